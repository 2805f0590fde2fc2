"""Specification of storyline's Liquid dialect (Tines' "wrapped JSON paths" templating).

Each test states one rule of the dialect as Tines stories rely on it. Formulas
(``<<pills>>`` and ``=expr``) are specified in ``test_formula.py``; the whole corpus of
real exports is rendered in ``test_templating_corpus.py``.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.message
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import pytest

from storyline.templating import StaticScope, TemplateError, render_text, render_value


class RecordingScope(StaticScope):
    """A StaticScope that records which credentials, resources and META were asked for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[str, str]] = []

    def credential(self, name: str) -> str:
        self.calls.append(("credential", name))
        return super().credential(name)

    def resource(self, name: str) -> Any:
        self.calls.append(("resource", name))
        return super().resource(name)

    def meta(self) -> Mapping[str, Any]:
        self.calls.append(("meta", ""))
        return super().meta()


@pytest.fixture
def scope() -> RecordingScope:
    return RecordingScope(
        story_run="run-guid-1",
        credentials={"vt": "VT-KEY", "slack": "xoxb-1"},
        resources={"jira_host": "jira.example.com", "vips": ["ceo@x.com", "cfo@x.com"], "cfg": {"url": "u"}},
        meta_data={"story": {"name": "Security Chatbot"}, "team": {"name": "SecOps"}},
        prompt_base="https://sl.example/prompt",
    )


EVENT: dict[str, Any] = {
    "receive_commands": {"command": "/analyzedomain", "text": "example.com", "user_name": "ana"},
    "get_report": {
        "body": {
            "Forcepoint ThreatSeeker category": "Malicious Web Sites",
            "data": [{"id": "a", "score": 3}, {"id": "b", "score": 7}],
            "flag": True,
            "nothing": None,
            "count": 2,
        },
        "status": 200,
    },
    "explode_domains": {"guid": "g-1", "index": 0, "size": 2, "domain": "example.com"},
}


def render(template: Any, scope: RecordingScope, event: Mapping[str, Any] = EVENT) -> Any:
    return render_value(template, event, scope)


# --------------------------------------------------------------------------- paths


class TestPaths:
    def test_leading_dot_means_the_event_root(self, scope: RecordingScope) -> None:
        assert render("{{.receive_commands.text}}", scope) == "example.com"
        assert render("{{ .receive_commands.user_name }}", scope) == "ana"

    def test_dotless_path_is_the_same_lookup(self, scope: RecordingScope) -> None:
        assert render("{{explode_domains.guid}}", scope) == "g-1"

    def test_indexes_first_last_and_size(self, scope: RecordingScope) -> None:
        t = "{{.get_report.body.data[1].id}} {{.get_report.body.data.first.id}} {{.get_report.body.data.last.score}} {{.get_report.body.data.size}}"
        assert render(t, scope) == "b a 7 2"

    def test_shorthand_numeric_index(self, scope: RecordingScope) -> None:
        assert render("{{ .get_report.body.data.0.id }}", scope) == "a"

    def test_bracket_key_with_spaces(self, scope: RecordingScope) -> None:
        t = "{{.get_report.body['Forcepoint ThreatSeeker category']}}"
        assert render(t, scope) == "Malicious Web Sites"

    def test_spread_over_an_array(self, scope: RecordingScope) -> None:
        assert render("{{ .get_report.body.data[*].score }}", scope) == "[3,7]"

    def test_leading_dot_in_tags_and_filter_arguments(self, scope: RecordingScope) -> None:
        t = "{% if .get_report.body.flag %}{{ 'x' | append: .receive_commands.text }}{% endif %}"
        assert render(t, scope) == "xexample.com"
        t = "{% for d in .get_report.body.data %}{{ d.id }}{% unless forloop.last %},{% endunless %}{% endfor %}"
        assert render(t, scope) == "a,b"

    def test_dots_in_numbers_and_strings_are_not_paths(self, scope: RecordingScope) -> None:
        assert render("{{ 1.5 | plus: 1 }}", scope) == "2.5"
        assert render("{{ 'a .b' | append: \".c\" }}", scope) == "a .b.c"
        assert render("{% for i in (1..3) %}{{ i }}{% endfor %}", scope) == "123"

    def test_missing_paths_render_empty_and_never_raise(self, scope: RecordingScope) -> None:
        assert render("[{{.nope.deeper[3].x}}]", scope) == "[]"
        assert render("[{{.get_report.body.nothing}}]", scope) == "[]"
        assert render("{{ .nope | default: 'N/A' }}", scope) == "N/A"
        assert render("{{ .nope.list | size }}", scope) == "0"


# --------------------------------------------------------------------------- printing


class TestPrinting:
    def test_objects_and_arrays_print_as_compact_json(self, scope: RecordingScope) -> None:
        assert render("{{ .get_report.body.data }}", scope) == '[{"id":"a","score":3},{"id":"b","score":7}]'
        assert render("{{ .get_report.status }}", scope) == "200"

    def test_booleans_print_lowercase(self, scope: RecordingScope) -> None:
        assert render("{{ .get_report.body.flag }}", scope) == "true"

    def test_render_text_always_returns_text(self, scope: RecordingScope) -> None:
        assert render_text("{{ .get_report.body.data | as_object }}", EVENT, scope) == (
            '[{"id":"a","score":3},{"id":"b","score":7}]'
        )
        assert render_text("Hi {{.receive_commands.user_name}}!", EVENT, scope) == "Hi ana!"
        assert render_text("plain", EVENT, scope) == "plain"


# --------------------------------------------------------------------------- as_object


class TestAsObject:
    def test_whole_value_as_object_yields_the_object(self, scope: RecordingScope) -> None:
        assert render("{{ .get_report.body.data | as_object }}", scope) == [
            {"id": "a", "score": 3},
            {"id": "b", "score": 7},
        ]
        assert render("  {{.get_report.status | as_object}}\n", scope) == 200

    def test_json_parse_then_as_object_yields_parsed_json(self, scope: RecordingScope) -> None:
        event = {"slack": {"payload": '{"type": "block_actions", "n": [1]}'}}
        assert render("{{.slack.payload | json_parse | as_object}}", scope, event) == {
            "type": "block_actions",
            "n": [1],
        }

    def test_as_object_parses_json_text(self, scope: RecordingScope) -> None:
        event = {"sns": {"Message": '{"a": 1}'}}
        assert render("{{ .sns.Message | as_object }}", scope, event) == {"a": 1}
        assert render("{{ .sns.Message | as_object | parse_json }}", scope, event) == {"a": 1}

    def test_assigns_before_the_output_still_count(self, scope: RecordingScope) -> None:
        t = "{% assign hit = .get_report.body.data | where: 'id', 'b' %}{{ hit.last | as_object }}"
        assert render(t, scope) == {"id": "b", "score": 7}

    def test_missing_value_is_null(self, scope: RecordingScope) -> None:
        assert render("{{ .nope | as_object }}", scope) is None

    def test_as_object_inside_text_prints_json(self, scope: RecordingScope) -> None:
        assert render("x={{ .get_report.body.data | map: 'id' | as_object }}", scope) == 'x=["a","b"]'

    def test_result_does_not_alias_the_event(self, scope: RecordingScope) -> None:
        result = render("{{ .get_report.body.data | as_object }}", scope)
        result[0]["id"] = "changed"
        assert EVENT["get_report"]["body"]["data"][0]["id"] == "a"

    def test_resource_as_object(self, scope: RecordingScope) -> None:
        assert render("{{.RESOURCE.vips | as_object}}", scope) == ["ceo@x.com", "cfo@x.com"]


# --------------------------------------------------------------------------- roots


class TestRoots:
    def test_credential_path(self, scope: RecordingScope) -> None:
        assert render("Bearer {{ .CREDENTIAL.slack }}", scope) == "Bearer xoxb-1"

    def test_credentials_are_fetched_only_when_referenced(self, scope: RecordingScope) -> None:
        render({"a": "{{.receive_commands.text}}", "b": "{{ .CREDENTIAL.vt }}", "c": "plain"}, scope)
        assert scope.calls == [("credential", "vt")]

    def test_a_credential_is_fetched_once_per_render(self, scope: RecordingScope) -> None:
        render(["{{ .CREDENTIAL.vt }}", "{{ .CREDENTIAL.vt }}"], scope)
        assert scope.calls == [("credential", "vt")]

    def test_resource_with_a_further_path(self, scope: RecordingScope) -> None:
        assert (
            render("https://{{.RESOURCE.jira_host}}/{{ .RESOURCE.cfg.url }}", scope)
            == "https://jira.example.com/u"
        )

    def test_meta(self, scope: RecordingScope) -> None:
        assert render("{{ .META.story.name }} / {{ META.team.name }}", scope) == "Security Chatbot / SecOps"

    def test_meta_is_lazy(self, scope: RecordingScope) -> None:
        render("{{ .receive_commands.text }}", scope)
        assert scope.calls == []

    def test_story_reference_renders_its_slug(self, scope: RecordingScope) -> None:
        assert render("{{ .STORY.team_a.sts_check_vips }}", scope) == "team_a.sts_check_vips"

    def test_scope_errors_propagate(self, scope: RecordingScope) -> None:
        with pytest.raises(TemplateError, match="credential 'missing' is not defined"):
            render("{{ .CREDENTIAL.missing }}", scope)


# --------------------------------------------------------------------------- tags


class TestTags:
    def test_credential(self, scope: RecordingScope) -> None:
        assert render("{% credential vt %}", scope) == "VT-KEY"

    def test_global_resource_prints_json_values_as_json(self, scope: RecordingScope) -> None:
        assert render("{% global_resource jira_host %}", scope) == "jira.example.com"
        assert render("{% global_resource vips %}", scope) == '["ceo@x.com","cfo@x.com"]'

    def test_line_break(self, scope: RecordingScope) -> None:
        assert render("a{% line_break %}b", scope) == "a\nb"

    def test_story_run_guid(self, scope: RecordingScope) -> None:
        assert render("{% story_run_guid %}", scope) == "run-guid-1"

    def test_prompt(self, scope: RecordingScope) -> None:
        assert render("{% prompt block %}", scope) == "https://sl.example/prompt?run=run-guid-1&status=block"
        assert render("{%prompt escalate%}", scope).endswith("status=escalate")

    def test_random(self, scope: RecordingScope) -> None:
        values = {int(render("{% random 3 %}", scope)) for _ in range(200)}
        assert values <= {0, 1, 2}
        ranged = {int(render("{% random 60-62 %}", scope)) for _ in range(200)}
        assert ranged <= {60, 61, 62}

    def test_story_names_a_sub_story(self, scope: RecordingScope) -> None:
        assert render("{% story STS HIBP Check %}", scope) == "STS HIBP Check"
        assert render("{% story Azure Sentinel Storyboard%}", scope) == "Azure Sentinel Storyboard"

    def test_tags_need_their_argument(self, scope: RecordingScope) -> None:
        with pytest.raises(TemplateError, match="'credential' needs an argument"):
            render("{% credential %}", scope)
        with pytest.raises(TemplateError, match="'random' expects"):
            render("{% random lots %}", scope)

    def test_standard_tags(self, scope: RecordingScope) -> None:
        t = (
            "{% assign n = .get_report.body.count %}{% capture c %}n={{ n }}{% endcapture %}{{ c }}"
            "{% case .receive_commands.command %}{% when '/analyzedomain' %} ok{% else %} no{% endcase %}"
            "{% unless .get_report.body.flag %} hidden{% endunless %}"
            "{% if n > 1 %} many{% elsif n == 1 %} one{% else %} none{% endif %}"
        )
        assert render(t, scope) == "n=2 ok many"


# --------------------------------------------------------------------------- filters


class TestFilters:
    def test_where_and_get(self, scope: RecordingScope) -> None:
        t = "{{ .get_report.body.data | where: 'id', 'b' | get: 'score' }}"
        assert render(t, scope) == "7"

    def test_where_with_dotted_key_and_boolean(self, scope: RecordingScope) -> None:
        event = {"imp": [{"vip": {"hit": True}, "to": "a"}, {"vip": {"hit": False}, "to": "b"}]}
        t = "{{ .imp | where: 'vip.hit', true | map: 'to' | as_object }}"
        assert render(t, scope, event) == ["a"]

    def test_jsonpath(self, scope: RecordingScope) -> None:
        event = {"q": {"tables": [{"columns": [{"name": "a"}, {"name": "b"}]}], "deep": {"x": {"x": 1}}}}
        assert render("{{ .q.tables[0] | jsonpath: '$.columns[*].name' | as_object }}", scope, event) == [
            "a",
            "b",
        ]
        assert render("{{ .q.tables[0].columns | jsonpath: '*.name' | as_object }}", scope, event) == [
            "a",
            "b",
        ]
        assert render("{{ .q | jsonpath: '$..name' | as_object }}", scope, event) == ["a", "b"]
        assert render("{{ .q | jsonpath: '$.tables[0].columns[1].name' | as_object }}", scope, event) == ["b"]

    def test_hashes_and_hmacs(self, scope: RecordingScope) -> None:
        assert render("{{ 'msg' | hmac_sha1: 'key' }}", scope) == hmac.new(b"key", b"msg", "sha1").hexdigest()
        assert (
            render("{{ 'msg' | hmac_sha256: 'key' }}", scope)
            == hmac.new(b"key", b"msg", "sha256").hexdigest()
        )
        assert render("{{ 'x' | sha256 }}", scope) == hashlib.sha256(b"x").hexdigest()
        assert render("{{ 'x' | md5 }}", scope) == hashlib.md5(b"x").hexdigest()
        assert (
            render("{{ 'x' | md5_base64 }}", scope) == base64.b64encode(hashlib.md5(b"x").digest()).decode()
        )

    def test_base64_and_url_encoding(self, scope: RecordingScope) -> None:
        assert render("{{ 'hi there' | base64_encode }}", scope) == "aGkgdGhlcmU="
        assert render("{{ 'aGkgdGhlcmU' | base64_decode }}", scope) == "hi there"
        assert render("{{ 'aGk_' | base64url_decode }}", scope) == "hi?"
        assert render("{{ 'a b&c' | url_encode }}|{{ 'a+b%26c' | url_decode }}", scope) == "a+b%26c|a b&c"

    def test_dates(self, scope: RecordingScope) -> None:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        assert abs(int(render('{{ "now" | date: "%s" }}', scope)) - now) <= 2
        assert abs(int(render('{{ "now" | date: "%s" | plus: 240000 }}', scope)) - now - 240000) <= 2
        assert render("{{ 1700000000 | date: '%Y-%m-%dT%H:%M:%SZ' }}", scope) == "2023-11-14T22:13:20Z"
        assert render("{{ '2024-01-02T03:04:05Z' | date: '%s' }}", scope) == "1704164645"
        assert render("{{ '1700000000' | date: '%Y-%m-%d' }}", scope) == "2023-11-14"
        assert len(render("{{ 'now' | date: '%s%L' }}", scope)) == 13
        assert render("{{ 'not a date' | date: '%Y' }}", scope) == "not a date"

    def test_string_and_array_filters(self, scope: RecordingScope) -> None:
        assert render("{{ 'A B' | downcase | replace: ' ', '_' }}", scope) == "a_b"
        assert render("{{ '  x  ' | strip }}", scope) == "x"
        assert render("{{ .get_report.body.data | map: 'id' | join: ',' }}", scope) == "a,b"
        assert render("{{ 'a,b,a' | split: ',' | uniq | join: '+' }}", scope) == "a+b"
        assert render("{{ .get_report.body.data | size }}", scope) == "2"
        assert render("{{ 5 | minus: 2 | times: 3 | plus: 1 }}", scope) == "10"
        assert render("{{ '7:x' | split: ':' | first }}", scope) == "7"

    def test_regex_replace(self, scope: RecordingScope) -> None:
        event = {"m": {"msg": "a\r\nb\tc"}}
        assert (
            render('{{ .m.msg | regex_replace: "\\r\\n", "," | regex_replace: "\\t", " " }}', scope, event)
            == "a,b c"
        )
        assert (
            render("{{ 'https://x.io' | regex_replace: 'https?://', 'hxxps://' }}", scope) == "hxxps://x.io"
        )
        assert render("{{ 'ab12' | regex_replace: '([a-z]+)(\\d+)', '\\2\\1' }}", scope) == "12ab"

    def test_json_filters(self, scope: RecordingScope) -> None:
        assert (
            render("{{ .get_report.body.data | to_json }}", scope)
            == '[{"id":"a","score":3},{"id":"b","score":7}]'
        )
        assert (
            json.loads(render("{{ .get_report.body.data | neat_json }}", scope))
            == EVENT["get_report"]["body"]["data"]
        )
        assert "\n" in render("{{ .get_report.body.data | neat_json }}", scope)
        with pytest.raises(TemplateError, match="json_parse: invalid JSON"):
            render("{{ 'not json' | json_parse }}", scope)

    def test_regexes_follow_ruby(self, scope: RecordingScope) -> None:
        # ^ and $ match at every line, \z is end of text, (?<name>...) names a group.
        event = {"t": {"lines": "a1\nb2"}}
        assert render(r"{{ .t.lines | regex_replace: '^(\w)', '<\1>' }}", scope, event) == "<a>1\n<b>2"
        assert render(r"{{ 'ab' | regex_replace: 'b\z', '!' }}", scope) == "a!"
        assert render(r"{{ 'k=v' | regex_replace: '(?<key>\w)=', 'K=' }}", scope) == "K=v"

    def test_where_and_map_accept_keys_containing_dots(self, scope: RecordingScope) -> None:
        event = {"r": [{"a.b": 1, "n": "x"}, {"a.b": 2, "n": "y"}]}
        assert render("{{ .r | where: 'a.b', 2 | map: 'n' | join: '' }}", scope, event) == "y"

    def test_csv_parse(self, scope: RecordingScope) -> None:
        assert render("{{ 'a,b\n1,\"2,3\"\n' | csv_parse | as_object }}", scope) == [["a", "b"], ["1", "2,3"]]

    def test_eml_parse(self, scope: RecordingScope) -> None:
        msg = email.message.EmailMessage()
        msg["Subject"] = "Invoice"
        msg["From"] = "Bob <bob@x.com>"
        msg["To"] = "a@y.com"
        msg["Message-ID"] = "<m1@x>"
        msg.set_content("see attached")
        msg.add_attachment(
            b"\x00\xffbinary", maintype="application", subtype="octet-stream", filename="f.bin"
        )
        event = {"upload": {"contents": base64.b64encode(msg.as_bytes()).decode()}}
        parsed = render("{{ .upload.contents | base64_decode | eml_parse | as_object }}", scope, event)
        assert parsed["subject"] == "Invoice"
        assert parsed["from"] == "bob@x.com"
        assert parsed["to"] == ["a@y.com"]
        assert parsed["message_id"] == "<m1@x>"
        assert parsed["body"].strip() == "see attached"
        [attachment] = parsed["attachments"]
        assert attachment["filename"] == "f.bin"
        assert attachment["sha256"] == hashlib.sha256(b"\x00\xffbinary").hexdigest()
        assert base64.b64decode(attachment["base64encodedcontents"]) == b"\x00\xffbinary"

    def test_unknown_filter_passes_its_input_through_as_in_tines(self, scope: RecordingScope) -> None:
        # Ruby Liquid (non-strict) ignores a filter it does not know; two real exports
        # rely on it ("| s_object"). `storyline tines check` names such filters.
        assert render("{{ 'x' | no_such_filter | upcase }}", scope) == "X"


# --------------------------------------------------------------------------- Tines leniencies


class TestLaxCompatibility:
    """Ruby Liquid's lax parser accepted these; real exports contain them."""

    def test_filter_argument_without_colon(self, scope: RecordingScope) -> None:
        assert render("{{ 'a\nb' | regex_replace '\\n', '' }}", scope) == "ab"

    def test_non_breaking_spaces_in_markup(self, scope: RecordingScope) -> None:
        assert render("{{\xa0.receive_commands.text\xa0|\xa0upcase }}", scope) == "EXAMPLE.COM"

    def test_escaped_quotes_in_markup(self, scope: RecordingScope) -> None:
        assert (
            render('{{ .get_report.body.data | where:\\"id\\",\\"a\\" | map: \\"score\\" }}', scope) == "[3]"
        )

    def test_output_nested_in_a_tag(self, scope: RecordingScope) -> None:
        # blog--proactive-teams-bot: {% if member.email == {{.receive_events.user_email}} %}
        event = {**EVENT, "want": {"id": "b"}}
        t = "{% for d in get_report.body.data %}{% if d.id == {{.want.id}} %}{{ d.score }}{% endif %}{% endfor %}"
        assert render(t, scope, event) == "7"
        assert render("{% if 'b' == {{ 'b' }} %}same{% endif %}", scope) == "same"

    def test_doubled_leading_dot(self, scope: RecordingScope) -> None:
        assert render("{{ ..receive_commands.text }}", scope) == "example.com"

    def test_filter_in_a_condition_tests_the_unfiltered_value(self, scope: RecordingScope) -> None:
        t = "{% if .get_report.body.data | where: 'id', 'zzz' contains 'x' %}yes{% else %}no{% endif %}"
        assert render(t, scope) == "yes"
        t = "{% if .nope | size > 0 %}yes{% else %}no{% endif %}"
        assert render(t, scope) == "no"


# --------------------------------------------------------------------------- render_value


class TestRenderValue:
    def test_renders_dict_keys_and_values_and_lists(self, scope: RecordingScope) -> None:
        value = {
            "{{.receive_commands.user_name}}": ["{{ .explode_domains.domain }}", 3, None, True],
            "n": 1.5,
            "nested": {"v": "{{ .get_report.body.data | as_object }}"},
        }
        assert render(value, scope) == {
            "ana": ["example.com", 3, None, True],
            "n": 1.5,
            "nested": {"v": [{"id": "a", "score": 3}, {"id": "b", "score": 7}]},
        }

    def test_plain_strings_come_back_untouched(self, scope: RecordingScope) -> None:
        text = "no markup here: { { } } < > = later"
        assert render(text, scope) is text

    def test_keys_are_always_text(self, scope: RecordingScope) -> None:
        assert render({"{{ .get_report.body.data | as_object }}": 1}, scope) == {
            '[{"id":"a","score":3},{"id":"b","score":7}]': 1
        }

    def test_templates_are_parsed_once(self, scope: RecordingScope) -> None:
        from storyline.templating import render as render_module

        source = "{{ .receive_commands.text }} cache-probe"
        render(source, scope)
        before = render_module._compile_liquid.cache_info()
        render(source, scope)
        after = render_module._compile_liquid.cache_info()
        assert after.hits == before.hits + 1
        assert after.misses == before.misses


# --------------------------------------------------------------------------- errors


class TestErrors:
    def test_syntax_error_names_the_problem_and_line(self, scope: RecordingScope) -> None:
        with pytest.raises(TemplateError, match=r"line 2") as info:
            render("first line\n{% if %}x{% endif %}", scope)
        assert "Liquid syntax error" in str(info.value)

    def test_error_without_position_is_located(self, scope: RecordingScope) -> None:
        with pytest.raises(TemplateError, match=r"line 3: '\{\{ \.x \| \}\}'"):
            render("a\nb\n{{ .x | }}", scope)

    def test_unclosed_block(self, scope: RecordingScope) -> None:
        with pytest.raises(TemplateError, match="endif"):
            render("{% if .x %}open", scope)

    def test_runaway_loops_are_stopped(self, scope: RecordingScope) -> None:
        with pytest.raises(TemplateError, match="loop iteration limit"):
            render("{% for i in (1..2000000) %}{% endfor %}", scope)

    def test_broken_templates_fail_every_time(self, scope: RecordingScope) -> None:
        for _ in range(2):
            with pytest.raises(TemplateError):
                render("{{ 'x' | }}", scope)

"""Trigger (Condition): which events get through, and what it says about them."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import pytest

from storyline.actions import trigger
from storyline.actions.base import ActionError
from storyline.templating import TemplateError
from tests.corpus import corpus_agents
from tests.support import BUSY, run_context

_EXPRESSION = re.compile(r"^\{\{\s*\.?([\w.]+)\s*\}\}$")


def _render_against(event: Mapping[str, Any]) -> Any:
    """A stand-in for the template engine: ``{{.a.b}}`` alone yields the value at that path."""

    def render(value: Any) -> Any:
        if isinstance(value, str) and (match := _EXPRESSION.match(value)):
            current: Any = event
            for part in match.group(1).split("."):
                current = current.get(part) if isinstance(current, Mapping) else None
            return current
        if isinstance(value, list):
            return [render(item) for item in value]
        if isinstance(value, dict):
            return {key: render(item) for key, item in value.items()}
        return value

    return render


def run(options: dict[str, Any], event: Mapping[str, Any] | None = None) -> list[Any]:
    """Run a trigger over an event and return what it emitted."""
    event = event or {}
    return trigger.run(run_context(trigger.TYPE, options, event=event, name="Check", render=_render_against(event))).events


def matches(kind: str, path: Any, value: Any) -> bool:
    """Whether a single rule matches; ``path`` is given already rendered (the left value)."""
    return run({"rules": [{"type": kind, "path": path, "value": value}]}) == [{"rule_matched": True}]


# --- emitting ---------------------------------------------------------------------------


def test_a_match_emits_rule_matched_true() -> None:
    assert run({"rules": [{"type": "regex", "path": "hello", "value": "ell"}]}) == [{"rule_matched": True}]


def test_no_match_emits_nothing_by_default() -> None:
    assert run({"rules": [{"type": "regex", "path": "hello", "value": "bye"}]}) == []


@pytest.mark.parametrize("flag", ["true", True, "True"])
def test_emit_no_match_sends_rule_matched_false_down_the_no_match_branch(flag: Any) -> None:
    options = {"rules": [{"type": "regex", "path": "hello", "value": "bye"}], "emit_no_match": flag}
    assert run(options) == [{"rule_matched": False}]


def test_emit_no_match_false_string_emits_nothing() -> None:
    options = {"rules": [{"type": "regex", "path": "hello", "value": "bye"}], "emit_no_match": "false"}
    assert run(options) == []


def test_path_and_value_are_rendered_against_the_incoming_event() -> None:
    event = {"receive": {"status": 201}, "expected": {"code": "201"}}
    options = {
        "rules": [{"type": "field==value", "path": "{{.receive.status}}", "value": "{{.expected.code}}"}]
    }
    assert run(options, event) == [{"rule_matched": True}]


def test_a_template_error_names_the_rule_option() -> None:
    def broken(value: Any) -> Any:
        if value == "{{ oops":
            raise TemplateError("unexpected end of template")
        return value

    ctx = run_context(trigger.TYPE, {"rules": [{"type": "regex", "path": "{{ oops", "value": "x"}]}, name="Check",
                      render=broken)
    with pytest.raises(ActionError, match=r"option 'rules\[0\]\.path': unexpected end"):
        trigger.run(ctx)


# --- must_match ---------------------------------------------------------------------------

TWO_RULES = [
    {"type": "regex", "path": "windows", "value": "win"},
    {"type": "regex", "path": "windows", "value": "linux"},
]


def test_all_rules_must_match_by_default() -> None:
    assert run({"rules": TWO_RULES}) == []


@pytest.mark.parametrize("must_match", [1, "1"])
def test_must_match_one_acts_as_or(must_match: Any) -> None:
    assert run({"rules": TWO_RULES, "must_match": must_match}) == [{"rule_matched": True}]


def test_must_match_counts_matching_rules() -> None:
    assert run({"rules": TWO_RULES, "must_match": "2"}) == []


# --- regex --------------------------------------------------------------------------------


def test_regex_is_case_insensitive_search() -> None:
    assert matches("regex", "Message from ALICE", "alice")


def test_not_regex_matches_when_the_pattern_is_absent() -> None:
    assert matches("!regex", "", "^$") is False
    assert matches("!regex", "cursor-123", "^$")


def test_regex_anchors_match_at_line_breaks_as_in_ruby() -> None:
    assert matches("regex", "first line\nsecond line", "^second")


def test_regex_on_null_tests_empty_text() -> None:
    assert matches("regex", None, "^$")


def test_ruby_named_groups_and_end_anchor_are_understood() -> None:
    assert matches("regex", "id=42", r"id=(?<number>\d+)\z")


def test_leading_minus_i_asks_for_case_sensitive_matching() -> None:
    assert matches("regex", "ALICE", "(?-i)alice") is False
    assert matches("regex", "alice", "(?-i)alice")


def test_a_regex_that_does_not_compile_at_run_time_names_the_rule_and_pattern() -> None:
    event = {"config": {"pattern": "([unclosed"}}
    options = {
        "rules": [
            {"type": "regex", "path": "x", "value": "x"},
            {"type": "regex", "path": "x", "value": "{{.config.pattern}}"},
        ]
    }
    with pytest.raises(ActionError, match=r"rule 1.*\(\[unclosed"):
        run(options, event)


def test_hex_digits_and_the_end_anchor_before_a_final_line_break_are_ruby_s() -> None:
    assert matches("regex", "sha c0ffee", r"^sha \h+$")
    assert matches("regex", "done\n", r"done\Z")
    assert not matches("regex", "done\n", r"done\z")


def test_a_runaway_regex_fails_the_trigger_for_good_naming_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_REGEX_TIMEOUT", "0.2")
    options = {"rules": [
        {"type": "regex", "path": "x", "value": "x"},
        {"type": "!regex", "path": "a" * 40 + "!", "value": r"^(a|a)*$"},
    ]}
    started = time.monotonic()
    with pytest.raises(ActionError) as info:
        run(options)
    assert time.monotonic() - started < 0.2 + BUSY
    assert str(info.value).startswith("rule 1: regular expression '^(a|a)*$' ran past the 0.2s limit")
    assert not info.value.retryable  # the worker records it failed at once


def test_the_rule_reported_in_the_issue_no_longer_stalls() -> None:
    # ``^(\w+\s?)*$`` on 28 characters from a webhook took Python's re ~15 s.
    assert not matches("regex", "a" * 28 + "!", r"^(\w+\s?)*$")


# --- equality -----------------------------------------------------------------------------


def test_equality_compares_text() -> None:
    assert matches("field==value", "201", "201")
    assert matches("field==value", "abc", "ABC") is False


def test_a_json_number_equals_numerically_equal_text() -> None:
    assert matches("field==value", 201, "201")
    assert matches("field==value", 201, "201.0")
    assert matches("field==value", 2.5, "2.50")


def test_two_texts_are_not_compared_as_numbers() -> None:
    assert matches("field==value", "01", "1") is False


def test_booleans_and_null_compare_as_tines_prints_them() -> None:
    assert matches("field==value", True, "true")
    assert matches("field==value", None, "")
    assert matches("field!=value", False, "true")


def test_not_equal() -> None:
    assert matches("field!=value", "FINISHED", "RUNNING")
    assert matches("field!=value", "100", "100") is False


# --- numeric comparisons ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "left", "value", "expected"),
    [
        ("field>value", "10", "9", True),
        ("field>value", "9", "10", False),  # numbers, not text ("9" > "10" as text)
        ("field>=value", 5, "5", True),
        ("field<value", "1.5", "2", True),
        ("field<=value", "3", "2", False),
    ],
)
def test_numeric_comparisons(kind: str, left: Any, value: Any, expected: bool) -> None:
    assert matches(kind, left, value) is expected


def test_non_numeric_text_never_matches_a_numeric_rule() -> None:
    assert matches("field<value", "abc", "10") is False
    assert matches("field>=value", "abc", "10") is False


def test_blank_counts_as_zero_like_ruby_to_f() -> None:
    # The SentinelOne story loops while "{{.record_counter.message}}" < 10, and that
    # counter is empty until the loop has run once.
    assert matches("field<value", "", "10")
    assert matches("field<value", None, "10")


# --- in / not in --------------------------------------------------------------------------


def test_in_means_the_path_contains_the_value_as_a_list_member() -> None:
    assert matches("in", ["good.com", "fine.org"], "good.com")
    assert matches("in", ["good.com", "fine.org"], "evil.com") is False


def test_in_reads_a_list_rendered_as_json_text_as_the_list() -> None:
    assert matches("in", '["good.com","fine.org"]', "good.com")
    assert matches("in", '["good.com","fine.org"]', "good") is False


def test_in_finds_text_inside_text() -> None:
    assert matches("in", "dkim=pass; spf=pass", "spf=pass")


def test_in_finds_a_key_of_an_object() -> None:
    assert matches("in", {"alice": 1}, "alice")


def test_in_matches_booleans_in_a_list() -> None:
    # "Trigger if any VIPs": path is a list of rule_matched flags, value is true.
    assert matches("in", [False, True], True)
    assert matches("in", [False, False], True) is False


def test_a_list_value_matches_when_any_element_matches() -> None:
    # "VIP Check": path is the recipient, value is the VIP list resource.
    assert matches("in", "ceo@example.com", ["cfo@example.com", "ceo@example.com"])
    assert matches("regex", "linux", ["windows", "linux"])


def test_not_in() -> None:
    assert matches("not in", ["good.com"], "evil.com")
    assert matches("not in", ["good.com"], "good.com") is False
    assert matches("not in", None, "x")


# --- validate -----------------------------------------------------------------------------


def test_valid_options_have_no_problems() -> None:
    options = {
        "rules": [{"type": "regex", "path": "{{.a}}", "value": "^x"}],
        "must_match": "1",
        "emit_no_match": "true",
    }
    assert trigger.validate(options) == []


def test_validate_requires_rules() -> None:
    assert trigger.validate({}) == ["option 'rules' is required: a list of {type, path, value} rules"]


def test_validate_names_an_unknown_rule_type_and_lists_the_valid_ones() -> None:
    [problem] = trigger.validate({"rules": [{"type": "is null", "path": "{{.a}}", "value": ""}]})
    assert problem.startswith("option 'rules[0].type' must be one of regex, !regex, field==value")
    assert "'is null'" in problem


def test_validate_compiles_literal_regexes() -> None:
    [problem] = trigger.validate({"rules": [{"type": "regex", "path": "{{.a}}", "value": "(unclosed"}]})
    assert problem.startswith("option 'rules[0].value' is not a valid regular expression")


def test_validate_checks_each_regex_of_a_list() -> None:
    [problem] = trigger.validate({"rules": [{"type": "regex", "path": "{{.a}}", "value": ["ok", "[bad"]}]})
    assert problem.startswith("option 'rules[0].value[1]' is not a valid regular expression")


def test_validate_leaves_templated_regexes_for_run_time() -> None:
    assert trigger.validate({"rules": [{"type": "regex", "path": "{{.a}}", "value": "{{.b}}"}]}) == []


def test_validate_rejects_a_non_number_in_a_numeric_rule() -> None:
    [problem] = trigger.validate({"rules": [{"type": "field>value", "path": "{{.a}}", "value": "ten"}]})
    assert problem.startswith("option 'rules[0].value' must be a number")


def test_validate_rejects_a_must_match_larger_than_the_rules() -> None:
    [problem] = trigger.validate({"rules": TWO_RULES, "must_match": 3})
    assert "option 'must_match' is 3 but there are only 2 rules" in problem


def test_validate_names_missing_path_and_value() -> None:
    problems = trigger.validate({"rules": [{"type": "regex"}]})
    assert [p.split(" is ")[0] for p in problems] == ["option 'rules[0].path'", "option 'rules[0].value'"]


def test_validate_rejects_a_non_boolean_emit_no_match() -> None:
    rules = [{"type": "regex", "path": "{{.a}}", "value": "x"}]
    assert trigger.validate({"rules": rules, "emit_no_match": "maybe"}) == [
        "option 'emit_no_match' must be true or false (got 'maybe')"
    ]


def test_every_trigger_in_the_real_tines_exports_validates() -> None:
    actions = corpus_agents(trigger.TYPE)
    assert actions, "the corpus holds trigger actions"
    problems = [(file, name, trigger.validate(options)) for file, name, options in actions]
    assert [p for p in problems if p[2]] == []

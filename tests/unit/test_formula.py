"""Specification of the formula dialect: ``=expr`` fields and ``<<expr>>`` pills.

Whole-value formulas keep their native JSON type (Tines' "formula field"); pills inside
text are converted to text (objects as JSON) and joined with the surrounding text.
"""

from __future__ import annotations

from typing import Any

import pytest

from storyline.templating import StaticScope, TemplateError, render_text, render_value
from storyline.templating.formula import parse, split_pills

EVENT: dict[str, Any] = {
    "receive_events": {
        "type": "infection",
        "users": [
            {"name": "Ann", "job": "engineer", "age": 31},
            {"name": "Bob", "job": "ceo", "age": 52},
            {"name": "Cid", "job": "student", "age": 19},
        ],
        "count": "3",
        "flag": False,
        "nothing": None,
        "payload": '{"k": [1, 2]}',
    },
    "extract_pre_approved_accounts": {"pre-approved_accounts": ["svc-a", "svc-b"]},
    "explode_users": {"user": {"name": "Ann", "job": "engineer", "age": 31}},
}


@pytest.fixture
def scope() -> StaticScope:
    return StaticScope(
        story_run="run-7",
        credentials={"vt": "VT-KEY"},
        resources={"vip_list": ["ceo"], "host": "h.example"},
        prompt_base="https://sl.example/prompt",
    )


def formula(expr: str, scope: StaticScope, event: dict[str, Any] = EVENT) -> Any:
    return render_value("=" + expr, event, scope)


class TestWholeValueFormulas:
    def test_path_keeps_the_native_type(self, scope: StaticScope) -> None:
        assert formula("receive_events.users", scope) == EVENT["receive_events"]["users"]
        assert formula("explode_users.user.age", scope) == 31

    def test_bracket_keys_and_indexes(self, scope: StaticScope) -> None:
        assert formula('extract_pre_approved_accounts["pre-approved_accounts"]', scope) == ["svc-a", "svc-b"]
        assert formula("receive_events.users[1].name", scope) == "Bob"
        assert formula("receive_events.users[-1]['job']", scope) == "student"

    def test_missing_path_is_null(self, scope: StaticScope) -> None:
        assert formula("receive_events.nope.deeper[3]", scope) is None
        assert formula("no_such_action", scope) is None

    def test_literals(self, scope: StaticScope) -> None:
        assert formula("'it\\'s'", scope) == "it's"
        assert formula('"a\\nb"', scope) == "a\nb"
        assert formula("42", scope) == 42
        assert formula("-1.5", scope) == -1.5
        assert formula("TRUE", scope) is True
        assert formula("FALSE", scope) is False
        assert formula("NULL", scope) is None
        assert formula("[1, 'a', [TRUE]]", scope) == [1, "a", [True]]
        assert formula("{a: 1, 'b c': [2]}", scope) == {"a": 1, "b c": [2]}

    def test_credential_and_resource_roots(self, scope: StaticScope) -> None:
        assert formula("CREDENTIAL.vt", scope) == "VT-KEY"
        assert formula("RESOURCE.vip_list", scope) == ["ceo"]

    def test_render_text_stringifies_formula_results(self, scope: StaticScope) -> None:
        assert (
            render_text("=receive_events.users[0]", EVENT, scope)
            == '{"name":"Ann","job":"engineer","age":31}'
        )

    def test_double_equals_at_start_is_text_not_a_formula(self, scope: StaticScope) -> None:
        text = "===GreyNoise IP Lookup===\nVerdict: {{ .receive_events.type }}"
        assert render_value(text, EVENT, scope) == "===GreyNoise IP Lookup===\nVerdict: infection"


class TestOperators:
    def test_comparison(self, scope: StaticScope) -> None:
        assert formula("receive_events.type == 'infection'", scope) is True
        assert formula("receive_events.type = 'infection'", scope) is True
        assert formula("explode_users.user.age != 31", scope) is False
        assert formula("explode_users.user.age >= 31 && explode_users.user.age < 40", scope) is True
        assert formula("receive_events.count > 2", scope) is True  # number-like text compares as a number

    def test_logic_and_truthiness(self, scope: StaticScope) -> None:
        assert formula("!receive_events.flag", scope) is True
        assert formula("receive_events.nothing || 'fallback'", scope) == "fallback"
        assert formula("[] || 'fallback'", scope) == []  # only FALSE and NULL are falsy
        assert formula("receive_events.flag OR TRUE", scope) is True
        assert formula("TRUE AND NULL", scope) is None

    def test_arithmetic_and_precedence(self, scope: StaticScope) -> None:
        assert formula("1 + 2 * 3", scope) == 7
        assert formula("(1 + 2) * 3", scope) == 9
        assert formula("7 / 2", scope) == 3.5
        assert formula("6 / 3", scope) == 2
        assert formula("explode_users.user.age - 1", scope) == 30
        assert formula("'a' & 1 & TRUE", scope) == "a1true"

    def test_pipeline(self, scope: StaticScope) -> None:
        assert formula("receive_events.users |> SIZE(%)", scope) == 3

    def test_type_errors_name_the_position(self, scope: StaticScope) -> None:
        with pytest.raises(TemplateError, match=r"at character 4: .\*. needs numbers"):
            formula("1 * 'x'", scope)
        with pytest.raises(TemplateError, match="division by zero"):
            formula("1 / 0", scope)


class TestFunctions:
    def test_if_is_lazy(self, scope: StaticScope) -> None:
        assert formula("IF(receive_events.flag, CREDENTIAL.missing, 'no')", scope) == "no"
        assert formula("IF(TRUE, 'yes')", scope) == "yes"
        assert formula("IF(FALSE, 'yes')", scope) is None

    def test_text_functions(self, scope: StaticScope) -> None:
        assert formula("UPCASE(receive_events.type)", scope) == "INFECTION"
        assert formula("DOWNCASE('AbC')", scope) == "abc"
        assert formula("CONCAT('a', 1, 'b')", scope) == "a1b"
        assert formula("CONCAT([1], [2, 3])", scope) == [1, 2, 3]
        assert formula("JOIN(['a', 'b'], ', ')", scope) == "a, b"

    def test_collection_functions(self, scope: StaticScope) -> None:
        assert formula("SIZE(receive_events.users)", scope) == 3
        assert formula("SIZE(NULL)", scope) == 0
        assert formula("FIRST(receive_events.users).name", scope) == "Ann"
        assert formula("LAST(receive_events.users).name", scope) == "Cid"
        assert formula("DEFAULT(receive_events.nothing, 'd')", scope) == "d"
        assert formula("DEFAULT('v', 'd')", scope) == "v"

    def test_filter_and_map_with_lambda(self, scope: StaticScope) -> None:
        users = "receive_events.users"
        assert formula(f"MAP(FILTER({users}, LAMBDA(u, u.age > 20)), LAMBDA(u, u.name))", scope) == [
            "Ann",
            "Bob",
        ]
        assert formula(f"MAP({users}, 'name')", scope) == ["Ann", "Bob", "Cid"]
        assert formula("FILTER(['red', 'blue', 'green'], LAMBDA(e, MATCH(e, 'r')))", scope) == [
            "red",
            "green",
        ]

    def test_match(self, scope: StaticScope) -> None:
        assert formula("MATCH(receive_events.type, '^inf')", scope) is True
        assert formula("MATCH(receive_events.type, 'INF')", scope) is False

    def test_json_parse(self, scope: StaticScope) -> None:
        assert formula("JSON_PARSE(receive_events.payload).k[1]", scope) == 2

    def test_prompt_and_story_run_guid(self, scope: StaticScope) -> None:
        assert formula("PROMPT('approve')", scope) == "https://sl.example/prompt?run=run-7&status=approve"
        assert formula("STORY_RUN_GUID()", scope) == "run-7"

    def test_unknown_function(self, scope: StaticScope) -> None:
        with pytest.raises(TemplateError, match="unknown function NOPE"):
            formula("NOPE(1)", scope)

    def test_lambda_parameters_must_be_names(self, scope: StaticScope) -> None:
        with pytest.raises(TemplateError, match="LAMBDA parameters must be names"):
            formula("LAMBDA(1, 2)", scope)


class TestPills:
    def test_pills_are_stringified_into_the_text(self, scope: StaticScope) -> None:
        text = "<b>Name:</b> <<explode_users.user.name>>, age <<explode_users.user.age>>"
        assert render_value(text, EVENT, scope) == "<b>Name:</b> Ann, age 31"

    def test_a_lone_pill_is_still_text(self, scope: StaticScope) -> None:
        assert render_value("<<explode_users.user.age>>", EVENT, scope) == "31"
        assert (
            render_value("<<receive_events.users[0]>>", EVENT, scope)
            == '{"name":"Ann","job":"engineer","age":31}'
        )

    def test_missing_pill_is_empty(self, scope: StaticScope) -> None:
        assert render_value("[<<nope.x>>]", EVENT, scope) == "[]"

    def test_pills_and_liquid_in_one_string(self, scope: StaticScope) -> None:
        text = "<<UPCASE(receive_events.type)>> / {{ .explode_users.user.name }}"
        assert render_value(text, EVENT, scope) == "INFECTION / Ann"

    def test_pill_values_are_not_re_rendered_as_liquid(self, scope: StaticScope) -> None:
        event = {"x": {"v": "{{ .CREDENTIAL.vt }}"}}
        assert render_value("<<x.v>> {% line_break %}", event, scope) == "{{ .CREDENTIAL.vt }} \n"

    def test_closing_marks_inside_strings_do_not_end_a_pill(self, scope: StaticScope) -> None:
        assert render_value("<<CONCAT('a>>', 'b')>>!", EVENT, scope) == "a>>b!"

    def test_unclosed_pill_is_literal_text(self, scope: StaticScope) -> None:
        assert render_value("a << b", EVENT, scope) == "a << b"

    def test_bad_pill_reports_where(self, scope: StaticScope) -> None:
        with pytest.raises(
            TemplateError, match=r"at character 9: expected a key after '\.'.* in pill <<a\.\.b>>"
        ):
            render_value("abc <<a..b>>", EVENT, scope)


class TestParser:
    def test_parse_is_cached(self) -> None:
        assert parse("a.b + 1") is parse("a.b + 1")

    def test_empty_formula(self) -> None:
        with pytest.raises(TemplateError, match="empty formula"):
            parse("  ")

    def test_trailing_garbage(self) -> None:
        with pytest.raises(TemplateError, match="position 5: unexpected token"):
            parse("a.b c")

    def test_split_pills(self) -> None:
        assert split_pills("x <<a>> y <<b.c>>") == ["x ", ("a", 4), " y ", ("b.c", 12)]

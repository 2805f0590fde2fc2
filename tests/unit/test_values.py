"""Tines' value semantics, one answer for every action, filter and formula.

A value prints, compares, counts as true and as a number the way Tines (Ruby) does,
whether a Condition rule, Liquid's ``where``, a formula, an HTTP Request form field or an
e-mail header asks.
"""

from __future__ import annotations

from typing import Any

import pytest

from storyline.templating import StaticScope, render_value
from storyline.templating.values import is_templated, loose_equal, option_flag, to_number, to_text, truthy


@pytest.mark.parametrize(
    ("value", "text"),
    [("a", "a"), (None, ""), (True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), (201.0, "201.0"),
     ({"a": [1, None]}, '{"a":[1,null]}'), (["é"], '["é"]')],
)
def test_values_print_as_ruby_prints_them(value: Any, text: str) -> None:
    assert to_text(value) == text


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [("201", 201, True), (201, "201.0", True), (2.5, "2.50", True), (True, "true", True), (None, "", True),
     ("01", "1", False), ("", 0, False), (True, 1, False), ("abc", "ABC", False), (["a"], '["a"]', True)],
)
def test_an_event_value_equals_what_a_story_wrote_loosely(left: Any, right: Any, equal: bool) -> None:
    assert loose_equal(left, right) is equal


def test_where_and_a_rule_agree_on_equality() -> None:
    event = {"hook": {"items": [{"code": "201.0", "n": "a"}, {"code": 404, "n": "b"}, {"n": "c"}]}}
    scope = StaticScope()
    assert render_value("{{ .hook.items | where: 'code', 201 | map: 'n' | join: '' }}", event, scope) == "a"
    assert render_value("{{ .hook.items | where: 'code', '404' | map: 'n' | join: '' }}", event, scope) == "b"
    assert render_value("{{ .hook.items | where: 'code', '' | map: 'n' | join: '' }}", event, scope) == "c"


def test_only_null_and_false_are_false_but_an_option_flag_must_say_on() -> None:
    assert [truthy(v) for v in (None, False, 0, "", "false", [])] == [False, False, True, True, True, True]
    assert [option_flag(v) for v in ("true", " Yes ", "1", "on", True, "false", "", None, 0)] == [
        True, True, True, True, True, False, False, False, False,
    ]  # fmt: skip
    event = {"hook": {"items": [{"n": "a", "count": 0}, {"n": "b", "count": None}, {"n": "c", "count": False}]}}
    assert render_value("{{ .hook.items | where: 'count' | map: 'n' | join: '' }}", event, StaticScope()) == "a"


def test_numbers_read_blank_as_zero_and_refuse_other_text() -> None:
    assert [to_number(v) for v in ("", None, " 12 ", "1e3", 7, "-.5")] == [0.0, 0.0, 12.0, 1000.0, 7.0, -0.5]
    assert [to_number(v) for v in ("ten", True, float("nan"), [1], "1_000")] == [None] * 5


def test_a_template_is_liquid_a_pill_or_a_whole_field_formula() -> None:
    assert all(is_templated(v) for v in ("{{ .a }}", "{% if x %}", "<<a.b>>", "=1 + 1", "  =A"))
    assert not any(is_templated(v) for v in ("plain", "a = b", 5, None, ["{{ .a }}"]))

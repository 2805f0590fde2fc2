"""Arbitrary templates, formulas and event data: a render succeeds or raises TemplateError, nothing else.

Templates and formulas are the story author's, but event data is anyone's, and a template
that is fine on one event must fail on another with a message (the action fails), never with
an exception the worker counts as a crash and retries. Built from the pieces the languages are
made of (every filter, function and tag name) so that most examples get past the parser.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storyline.templating import StaticScope, TemplateError, render_text, render_value
from storyline.templating.formula import FUNCTIONS
from storyline.templating.render import ENV
from storyline.templating.tags import WIDGET_TAG_NAMES

SCOPE = StaticScope(credentials={"apikey": "k-123"}, resources={"vips": ["ceo"], "limit": 3})
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = ["a", "b", "hook", "items", "name", "0", "User ID", ""]
scalars = (
    st.none() | st.booleans() | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
)
json_data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=15,
)
events = st.dictionaries(st.sampled_from(["a", "b", "hook", "items"]), json_data, max_size=4)

paths = st.sampled_from(["a", "b", "hook", "items", "a.b", "hook.items", "items[0]", "hook.name", "a.0",
                         "CREDENTIAL.apikey", "RESOURCE.vips", "RESOURCE.limit", "META", "LOOP.value", "%"])
literals = (
    st.integers(-1000, 10**12).map(str) | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.text(max_size=8).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
    | st.sampled_from(["TRUE", "FALSE", "NULL", "[]", "{}", "[1, 'a', NULL]", '{"k": 1}', "'(a|a)*$'", "'\\\\d+'",
                       "'%Y-%m-%d'", "'i'", "'$..*'", "'x.y'"])
)


def _call(args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    name = st.sampled_from(sorted(FUNCTIONS))
    return st.builds(lambda n, a: f"{n}({', '.join(a)})", name, st.lists(args, max_size=4))


formula_ops = st.sampled_from([" & ", " + ", " - ", " * ", " / ", " = ", " != ", " < ", " >= ", " && ", " || ",
                               " |> ", " AND ", " OR "])
expressions = st.recursive(
    paths | literals,
    lambda inner: (
        _call(inner)
        | st.builds(lambda a, op, b: f"{a}{op}{b}", inner, formula_ops, inner)
        | st.builds(lambda body: f"LAMBDA(x, {body})", inner)
        | st.builds(lambda a, b: f"{a}[{b}]", inner, inner)
        | st.builds(lambda a: f"-{a}", inner) | st.builds(lambda a: f"!({a})", inner)
        | st.builds(lambda items: f"[{', '.join(items)}]", st.lists(inner, max_size=3))
    ),
    max_leaves=8,
)

liquid_values = paths.map(lambda p: "." + p if p[0].isalpha() and not p.isupper() else p) | literals.filter(
    lambda s: not s.startswith(("{", "[", "TRUE", "FALSE", "NULL")))
filter_calls = st.builds(
    lambda name, args: name + (": " + ", ".join(args) if args else ""),
    st.sampled_from(sorted(ENV.filters)), st.lists(liquid_values, max_size=3),
)
outputs = st.builds(lambda v, fs: "{{ " + " | ".join([v, *fs]) + " }}", liquid_values, st.lists(filter_calls, max_size=3))
tags = (
    st.builds(lambda name, arg: f"{{% {name} {arg} %}}", st.sampled_from(sorted(WIDGET_TAG_NAMES)),
              st.sampled_from(["apikey", "nope", "vips", "3", "1-2", "x y", ""]))
    | st.builds(lambda v, body: f"{{% if {v} %}}{body}{{% endif %}}", liquid_values, st.text(max_size=4))
    | st.builds(lambda v: f"{{% for x in {v} limit: 3 %}}{{{{ x }}}}{{% endfor %}}", liquid_values)
    | st.builds(lambda v, f: f"{{% assign y = {v} | {f} %}}{{{{ y }}}}", liquid_values, filter_calls)
)
pieces = st.sampled_from(["{{", "}}", "{%", "%}", "<<", ">>", "|", ":", "'", '"', ".", "[", "]", "=", " ", "-", "\n"])
templates = st.lists(
    outputs | tags | expressions.map(lambda e: f"<<{e}>>") | pieces | st.text(max_size=4), max_size=6
).map("".join)


def _renders_or_refuses(call: Any) -> None:
    """Any other exception fails the test (and hypothesis shrinks the example that raised it)."""
    with contextlib.suppress(TemplateError):
        call()


@FUZZ
@given(template=templates, event=events)
def test_any_template_on_any_event_renders_or_raises_template_error(template: str, event: dict[str, Any]) -> None:
    _renders_or_refuses(lambda: render_text(template, event, SCOPE))


@FUZZ
@given(expression=expressions, event=events)
def test_any_formula_on_any_event_evaluates_or_raises_template_error(expression: str, event: dict[str, Any]) -> None:
    _renders_or_refuses(lambda: render_value("=" + expression, event, SCOPE))


@FUZZ
@given(source=st.text(max_size=40), event=events)
def test_any_text_at_all_renders_or_raises_template_error(source: str, event: dict[str, Any]) -> None:
    for text in (source, "=" + source, "<<" + source + ">>", "{{ " + source + " }}", "{% " + source + " %}"):
        _renders_or_refuses(lambda text=text: render_value(text, event, SCOPE))


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("template", "event", "message"),
    [
        ("=IF(1)", {}, "IF takes 2 or 3 arguments"),
        ("{{ .items | compact: 'name' | size }}", {"items": [{"a": 1}]}, "compact: KeyError: 'name' (line 1"),
        ("{{ 'qy' | compact: 3 }}", {}, "compact: IndexError"),
        ("{{ 0.0 | modulo: 'x' }}", {}, "modulo: InvalidOperation"),
        ("=JWT_SIGN({}, 'k', 'ALG9')", {}, "cannot sign with ALG9"),
        ("=" + "9" * 400 + " / 3", {}, "'/': the result is too large for a number"),
        ("=" + "(" * 3000 + "1" + ")" * 3000, {}, "the formula nests too deeply"),
        ("{{ .d }}", {"d": _nested(3000)}, "nests too deeply to render"),
        ("=TO_JSON(d)", {"d": _nested(3000)}, "TO_JSON: maximum recursion depth exceeded"),
    ],
)
def test_what_the_fuzzing_found_fails_as_a_template_error(template: str, event: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_value(template, event, SCOPE)
    assert message in str(info.value)

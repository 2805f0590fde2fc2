"""A template that fails names the action, the option's path inside its value and where in the text."""

from __future__ import annotations

from typing import Any

import pytest

from storyline.actions import event_transformation, trigger
from storyline.actions.base import ActionError, RunContext
from storyline.templating import StaticScope, TemplateError, option_path, render_value
from tests.support import run_context


def context(options: dict[str, Any], name: str = "Build reply") -> RunContext:
    scope = StaticScope()
    return run_context(event_transformation.TYPE, options, event={"alert": {"id": 7}}, name=name, scope=scope,
                       render=lambda value: render_value(value, {"alert": {"id": 7}}, scope),
                       render_event=lambda value, event: render_value(value, event, scope))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"payload": {"text": "Alert {% if %}x{% endif %}"}},
         "action 'Build reply': option 'payload.text': Liquid syntax error: "),
        ({"payload": {"attachments": [{"blocks": ["ok", {"text": "=1 +"}]}]}},
         "action 'Build reply': option 'payload.attachments[0].blocks[1].text': formula error at character 5"),
        ({"payload": {"text": "Alert <<alert.id +>> now"}},
         "action 'Build reply': option 'payload.text': formula error at character 19"),
        ({"payload": {"{% if %}": 1}}, "action 'Build reply': option 'payload.{% if %}': Liquid syntax error"),
        ({"payload": "{{ .alert.id | divided_by: 0 }}"}, "action 'Build reply': option 'payload': Liquid error: "),
    ],
)
def test_errors_name_the_action_the_nested_option_and_the_position(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ActionError) as info:
        event_transformation.run(context({"mode": "message_only", **options}))
    assert str(info.value).startswith(expected), str(info.value)


def test_a_liquid_error_says_line_and_column() -> None:
    with pytest.raises(ActionError) as info:
        context({"payload": {"text": "line one\nand {{ .alert.id | divided_by: 0 }}"}}).option("payload")
    assert "option 'payload.text'" in str(info.value) and "line 2" in str(info.value)


def test_legacy_message_only_options_and_trigger_rules_are_named_too() -> None:
    with pytest.raises(ActionError, match=r"^action 'Build reply': option 'message\.parts\[1\]': formula error"):
        event_transformation.run(context({"mode": "message_only", "message": {"parts": ["a", "=("]}}))
    ctx = context({"rules": [{"type": "regex", "path": "{{ .alert.id | divided_by: 0 }}", "value": "x"}]}, "Is it")
    with pytest.raises(ActionError, match=r"^action 'Is it': option 'rules\[0\]\.path': Liquid error"):
        trigger.run(ctx)


def test_loop_payload_errors_are_named_per_option() -> None:
    options = {"mode": "message_only", "loop": "=[1, 2]", "payload": {"n": "=LOOP.value / 0"}}
    with pytest.raises(ActionError, match=r"^action 'Build reply': option 'payload\.n': formula error"):
        event_transformation.run(context(options))


def test_the_path_is_only_where_the_error_is() -> None:
    assert option_path("payload", ("a", 0, "b")) == "payload.a[0].b"
    assert option_path("", ("a", 2)) == "a[2]"
    with pytest.raises(TemplateError) as info:
        render_value({"fine": "{{ .alert.id }}", "list": [{"x": "=)"}]}, {"alert": {"id": 1}}, StaticScope())
    assert info.value.path == ("list", 0, "x")

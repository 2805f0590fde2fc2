"""Tines' "local values": an action's ``local`` option is ``LOCAL`` in its other options."""

from __future__ import annotations

from typing import Any

import pytest

from storyline.actions import event_transformation
from storyline.actions.base import ActionError, ActionSpec, RunContext
from storyline.config import Settings
from storyline.engine.runtime import Runtime

EVENT = {"kickoff": [{"email": "john@example.com", "name": "John Doe"},
                     {"email": "ann@example.com", "name": "Ann Smith"}]}


def context(options: dict[str, Any]) -> RunContext:
    action = ActionSpec(id=1, story_id=1, guid="g", name="Tidy users", key="tidy_users",
                        type=event_transformation.TYPE, options={"mode": "message_only", **options})
    return Runtime(Settings()).context(action, EVENT, "run-1", 0.0)


def test_local_values_are_computed_once_and_read_as_LOCAL_by_formulas_and_liquid() -> None:
    ctx = context({
        "local": {"temp": '=FILTER(kickoff, LAMBDA(user, NOT(MATCH(user.name, "Smith"))))',
                  "count": "=SIZE(LOCAL.temp)"},
        "payload": {"emails": "=MAP(LOCAL.temp, \"email\")", "text": "{{ LOCAL.count }} kept"},
    })
    [event] = event_transformation.run(ctx).events
    assert event == {"emails": ["john@example.com"], "text": "1 kept"}


def test_legacy_message_only_does_not_emit_local() -> None:
    [event] = event_transformation.run(context({"local": {"n": "=1 + 1"}, "answer": "<<LOCAL.n>>"})).events
    assert event == {"answer": "2"}


def test_a_broken_local_value_is_named() -> None:
    with pytest.raises(ActionError, match=r"^action 'Tidy users': option 'local\.bad': formula error"):
        context({"local": {"bad": "=(", "fine": "1"}, "payload": "=LOCAL.fine"}).option("payload")

"""Action types by their Tines class name; one module each.

The annotated list makes mypy check each module against the contract in
:mod:`storyline.actions.base`: a pure action with an ``async run`` does not type-check.
"""

from __future__ import annotations

from storyline.actions import email, event_transformation, http_request, imap, send_to_story, trigger, webhook
from storyline.actions.base import ActionType, RunnableAction

_RUNNABLE: list[RunnableAction] = [trigger, event_transformation, http_request, send_to_story, email, imap]

RUNNABLE: dict[str, RunnableAction] = {action.TYPE: action for action in _RUNNABLE}
"""The types the worker runs as jobs."""

TYPES: dict[str, ActionType] = {webhook.TYPE: webhook, **RUNNABLE}
"""Every type storyline knows: their options are checked on import."""


def action_type(type_name: str) -> ActionType | None:
    return TYPES.get(type_name)


def runnable(type_name: str) -> RunnableAction | None:
    """The action type if storyline runs it as a job (the Webhook is recorded by the intake instead)."""
    return RUNNABLE.get(type_name)

"""Action types by their Tines class name; one module each."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from storyline.actions import email, event_transformation, http_request, imap, send_to_story, trigger, webhook

TYPES: dict[str, ModuleType] = {
    module.TYPE: module
    for module in (webhook, trigger, event_transformation, http_request, send_to_story, email, imap)
}


def action_type(type_name: str) -> ModuleType | None:
    return TYPES.get(type_name)


def is_pure(module: ModuleType) -> bool:
    """Pure actions do no I/O: the worker runs them inside the transaction that records them."""
    return getattr(module, "PURE", False)


def needs_state(module: ModuleType, options: Mapping[str, Any]) -> bool:
    """Whether a pure action must run inside the writer's transaction (it reads and writes its state)."""
    check = getattr(module, "needs_state", None)
    return bool(check(options)) if check is not None else False

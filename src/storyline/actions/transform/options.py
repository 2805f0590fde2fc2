"""Reading Event Transform options: the helpers every mode's validator and runner share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storyline import jsondata
from storyline.actions.base import ActionError, RunContext
from storyline.actions.state import ActionState
from storyline.templating.values import is_templated, to_number


def literal_number(options: Mapping[str, Any], name: str) -> tuple[bool, float | None]:
    """(present and literal, its number or None when not numeric); templated values are skipped."""
    value = options.get(name)
    if value is None or value == "" or is_templated(value):
        return False, None
    return True, to_number(value)


def number_option(ctx: RunContext, name: str, default: float | None = None) -> float | None:
    """A rendered numeric option; blank gives ``default``; text that is not a number is an error."""
    value = ctx.option(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None if default is None else float(default)
    number = to_number(value)
    if number is None:
        raise ActionError(f"option '{name}' must be a number (got {value!r})")
    return number


def whole(number: float) -> int | float:
    """Keep whole numbers as ints in emitted JSON (``{"seconds": 30}``, not ``30.0``)."""
    return int(number) if float(number).is_integer() else number


def need_state(ctx: RunContext, mode: str) -> ActionState:
    if ctx.state is None:
        raise ActionError(f"{mode} mode needs action state, and this runtime provides none")
    return ctx.state


def parse_json_list(value: Any) -> Any:
    """Templates often render a list as its JSON text; read it back as the list (depth bounded: the
    text may be a sender's ``"[[[[..."``, which stays text)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return jsondata.loads(value)
        except jsondata.JsonError:
            return value
    return value

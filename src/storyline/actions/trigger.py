"""Condition (formerly Trigger): let an event through only when its rules match.

The rules are :mod:`storyline.actions.rules`; this action adds the "no match" branch
(``emit_no_match``), which Tines added to Huginn's ``TriggerAgent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from storyline.actions.base import Result, RunContext
from storyline.actions.rules import evaluate_rules, validate_rules
from storyline.templating.values import is_templated, option_flag

TYPE = "Agents::TriggerAgent"
DESCRIPTION = "Emit the incoming event only when its rules match (Tines' Condition, formerly Trigger)."
PURE: Final = True


def validate(options: Mapping[str, Any]) -> list[str]:
    """Problems that would stop this trigger from ever running as intended, before it runs."""
    problems = validate_rules(options)
    emit = options.get("emit_no_match")
    boolean = isinstance(emit, bool) or (isinstance(emit, str) and emit.strip().lower() in ("true", "false"))
    if emit not in (None, "") and not is_templated(emit) and not boolean:
        problems.append(f"option 'emit_no_match' must be true or false (got {emit!r})")
    return problems


def needs_state(options: Mapping[str, Any]) -> bool:
    """Rules read only the incoming event: a trigger keeps no state."""
    return False


def run(ctx: RunContext) -> Result:
    """Emit ``{"rule_matched": true}`` on a match; ``false`` only when ``emit_no_match`` asks for it."""
    matched, logs = evaluate_rules(ctx)
    if matched:
        return Result(events=[{"rule_matched": True}], logs=logs)
    if option_flag(ctx.option("emit_no_match", False)):
        return Result(events=[{"rule_matched": False}], logs=logs)
    return Result(events=[], logs=[*logs, "no match: nothing emitted"])

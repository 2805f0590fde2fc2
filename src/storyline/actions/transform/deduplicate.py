"""Event Transform's ``deduplicate`` mode.

Emits ``{"unique_event": true}`` (Tines docs; a real story reads
``.dedupe_action.unique_event``). Duplicates are dropped with a log line, or emitted with
``unique_event: false`` under ``emit_duplicate(s)``. Only emitted (unique) values are
remembered, as in Huginn, so ``period`` counts from the last emitted event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.transform.options import literal_number, need_state, number_option
from storyline.templating.values import option_flag

LOOKBACK_DEFAULT = 100
LOOKBACK_MAX = 1000
DEDUPE_BUCKET = "dedupe"

STATEFUL = True
"""Runs see and write the action's state in the transaction that records them."""


def _fingerprint(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "path" not in options:
        problems.append("option 'path' is required (a template yielding the value that must be unique)")
    has_lookback = options.get("lookback") not in (None, "")
    has_period = options.get("period") not in (None, "")
    if has_lookback and has_period:
        problems.append("options 'lookback' and 'period' exclude each other: use one of them")
    literal, lookback = literal_number(options, "lookback")
    if literal and (lookback is None or not lookback.is_integer() or not 1 <= lookback <= LOOKBACK_MAX):
        problems.append(
            f"option 'lookback' must be a whole number from 1 to {LOOKBACK_MAX} (got {options.get('lookback')!r})"
        )
    literal, period = literal_number(options, "period")
    if literal and (period is None or period <= 0):
        problems.append(
            f"option 'period' must be a positive number of seconds (got {options.get('period')!r})"
        )
    literal, tolerance = literal_number(options, "tolerance")
    if literal and (tolerance is None or not tolerance.is_integer() or tolerance < 1):
        problems.append(
            f"option 'tolerance' must be a positive whole number (got {options.get('tolerance')!r})"
        )
    return problems


def run(ctx: RunContext) -> Result:
    state = need_state(ctx, "deduplicate")
    key = _fingerprint(ctx.option("path"))
    tolerance_number = number_option(ctx, "tolerance", 1)
    tolerance = max(1, int(tolerance_number or 1))
    period = number_option(ctx, "period")
    compact: list[Any] | None = None
    if period is not None and period <= 0:
        raise ActionError(
            f"option 'period' must be a positive number of seconds (got {ctx.option('period')!r})"
        )
    if period is not None:
        # Entries carry their own time; ``since`` only lets the store skip old rows.
        entries = state.items(DEDUPE_BUCKET, since=ctx.now - period)
        window = [entry for entry in entries if entry.get("at", ctx.now) >= ctx.now - period]
        if not window:
            compact = []  # everything stored is older than the period
    else:
        lookback_number = number_option(ctx, "lookback", LOOKBACK_DEFAULT) or LOOKBACK_DEFAULT
        lookback = min(max(1, int(lookback_number)), LOOKBACK_MAX)
        entries = state.items(DEDUPE_BUCKET, limit=2 * lookback)
        window = entries[-lookback:]
        if len(entries) >= 2 * lookback:
            compact = window  # keep the bucket from growing past twice the lookback
    seen = sum(1 for entry in window if entry.get("key") == key)
    unique = seen < tolerance
    if unique:
        if compact is not None:
            state.clear(DEDUPE_BUCKET)
            for entry in compact:
                state.append(DEDUPE_BUCKET, entry)
        state.append(DEDUPE_BUCKET, {"key": key, "at": ctx.now})
        return Result(events=[{"unique_event": True}])
    if option_flag(ctx.option("emit_duplicate", False)) or option_flag(ctx.option("emit_duplicates", False)):
        return Result(events=[{"unique_event": False}], logs=["duplicate emitted (emit_duplicate)"])
    return Result(logs=[f"duplicate: value seen {seen} time(s) within the window; not emitted"])

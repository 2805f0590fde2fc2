"""Event Transform's ``throttle`` mode.

Passes events on at most ``runs_per_interval`` runs per ``interval``, ``events_per_run`` events
each, per ``throttle_key``; excess events wait for a later slot (never dropped). Emits
``{"capacity_per_minute": runs per minute}`` (Tines docs).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.transform.options import literal_number, need_state, number_option, whole
from storyline.templating.values import is_templated, to_text

INTERVALS = {"minute": 60, "hour": 3_600, "day": 86_400}
EVENTS_PER_RUN_MAX = 10

STATEFUL = True
"""Runs see and write the action's state in the transaction that records them."""


def validate(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    interval = options.get("interval")
    if interval not in (None, "") and not is_templated(interval) and interval not in INTERVALS:
        problems.append(f"option 'interval' must be one of {', '.join(INTERVALS)} (got {interval!r})")
    for name in ("runs_per_interval", "capacity"):
        literal, runs = literal_number(options, name)
        if literal and (runs is None or not runs.is_integer() or runs < 1):
            problems.append(f"option '{name}' must be a positive whole number (got {options.get(name)!r})")
    literal, per_run = literal_number(options, "events_per_run")
    if literal and (per_run is None or not per_run.is_integer() or not 1 <= per_run <= EVENTS_PER_RUN_MAX):
        problems.append(
            f"option 'events_per_run' must be a whole number from 1 to {EVENTS_PER_RUN_MAX} "
            f"(got {options.get('events_per_run')!r})"
        )
    return problems


def run(ctx: RunContext) -> Result:
    """Reserve the earliest run slot with room; emit now if that slot is the current one.

    An interval is cut into ``runs_per_interval`` evenly spaced slots (Tines: "runs will be
    evenly spaced out"), each passing up to ``events_per_run`` events. Reservations are
    appended in slot order, so the newest few tell where the queue ends; an event that
    finds its slot in the future is re-run at that slot's start (``defer_until``).
    """
    state = need_state(ctx, "throttle")
    interval_name = to_text(ctx.option("interval", "minute")).strip().lower() or "minute"
    if interval_name not in INTERVALS:
        raise ActionError(f"option 'interval' must be one of {', '.join(INTERVALS)} (got {interval_name!r})")
    interval = INTERVALS[interval_name]
    if ctx.action.options.get("runs_per_interval") in (None, "") and "capacity" in ctx.action.options:
        runs_number = number_option(ctx, "capacity", 1)  # legacy: runs per minute
        interval = 60
    else:
        runs_number = number_option(ctx, "runs_per_interval", 1)
    if runs_number is None or not runs_number.is_integer() or runs_number < 1:
        raise ActionError(f"option 'runs_per_interval' must be a positive whole number (got {runs_number!r})")
    per_run_number = number_option(ctx, "events_per_run", 1)
    if (
        per_run_number is None
        or not per_run_number.is_integer()
        or not 1 <= per_run_number <= EVENTS_PER_RUN_MAX
    ):
        raise ActionError(f"option 'events_per_run' must be a whole number from 1 to {EVENTS_PER_RUN_MAX}")
    runs, per_run = int(runs_number), int(per_run_number)
    output = {"capacity_per_minute": whole(round(runs * 60 / interval, 6))}

    if isinstance(ctx.job_state, Mapping) and "throttle_slot" in ctx.job_state:
        return Result(events=[output])

    spacing = interval / runs
    key = to_text(ctx.option("throttle_key", "")).strip()
    if len(key) > 100:
        key = hashlib.sha256(key.encode("utf-8")).hexdigest()
    bucket = f"throttle:{key}" if key else "throttle"
    current = math.floor(ctx.now / spacing)
    newest = state.items(bucket, limit=per_run)
    if newest and newest[-1]["slot"] >= current:
        last = newest[-1]["slot"]
        taken = sum(1 for entry in newest if entry["slot"] == last)
        slot = last if taken < per_run else last + 1
    else:
        if newest:
            state.clear(bucket)  # every reservation is in the past
        slot = current
    state.append(bucket, {"slot": slot})
    if slot == current:
        return Result(events=[output])
    run_at = slot * spacing
    return Result(
        defer_until=run_at,
        state={"throttle_slot": slot},
        logs=[f"throttled: passing on in {run_at - ctx.now:.1f}s"],
    )

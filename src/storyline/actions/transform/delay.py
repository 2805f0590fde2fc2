"""Event Transform's ``delay`` mode.

Waits ``seconds`` or ``until`` (by asking the engine to run the job again later), then emits
``{"seconds": N}`` (Tines docs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.transform.options import literal_number, number_option, whole
from storyline.templating.values import is_templated

MAX_DELAY_SECONDS = 30 * 86_400
_UNITS = {
    "second": 1,
    "sec": 1,
    "minute": 60,
    "min": 60,
    "hour": 3_600,
    "hr": 3_600,
    "day": 86_400,
    "week": 604_800,
}
_RELATIVE = re.compile(
    r"(?:in\s+)?(?P<count>\d+(?:\.\d+)?|an?|one)\s+(?P<unit>seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?)"
    r"(?P<suffix>\s+from\s+now)?",
    re.IGNORECASE,
)

STATEFUL = False
"""Runs need no action state."""


def _parse_until(value: Any, now: float) -> float | None:
    """An epoch time from an ISO 8601 date/time or a relative phrase ("7 days from now", "in 2 hours").

    Tines documents Ruby's chronic parser; these two forms cover the documented examples.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _RELATIVE.fullmatch(text)
    if match and (text.lower().startswith("in ") or match.group("suffix")):
        count_text = match.group("count").lower()
        count = 1.0 if count_text in ("a", "an", "one") else float(count_text)
        unit = match.group("unit").lower().rstrip("s")
        return now + count * _UNITS[unit]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def validate(options: Mapping[str, Any]) -> list[str]:
    has_seconds = options.get("seconds") not in (None, "")
    has_until = options.get("until") not in (None, "")
    if has_seconds == has_until:
        return ["delay mode needs exactly one of option 'seconds' or option 'until'"]
    problems: list[str] = []
    literal, seconds = literal_number(options, "seconds")
    if literal:
        if seconds is None or seconds < 0:
            problems.append(
                f"option 'seconds' must be a number of seconds, 0 or more (got {options['seconds']!r})"
            )
        elif seconds > MAX_DELAY_SECONDS:
            problems.append(
                f"option 'seconds' must be at most {MAX_DELAY_SECONDS} (30 days), got {options['seconds']!r}"
            )
    until = options.get("until")
    if has_until and not is_templated(until) and _parse_until(until, 0.0) is None:
        problems.append(
            f"option 'until' must be an ISO date/time or like '10 minutes from now' (got {until!r})"
        )
    return problems


def run(ctx: RunContext) -> Result:
    if isinstance(ctx.job_state, Mapping) and "delay_seconds" in ctx.job_state:
        return Result(events=[{"seconds": ctx.job_state["delay_seconds"]}])
    logs: list[str] = []
    if ctx.action.options.get("until") not in (None, ""):
        until_value = ctx.option("until")
        until = _parse_until(until_value, ctx.now)
        if until is None:
            raise ActionError(
                f"option 'until' must be an ISO date/time or like '10 minutes from now' (got {until_value!r})"
            )
        seconds = max(0.0, until - ctx.now)
        if until < ctx.now:
            logs.append(f"until {until_value!r} is in the past; emitting now")
    else:
        number = number_option(ctx, "seconds")
        if number is None:
            raise ActionError("delay mode needs option 'seconds' or option 'until'")
        if number < 0:
            raise ActionError(f"option 'seconds' must not be negative (got {ctx.option('seconds')!r})")
        seconds = number
    if seconds > MAX_DELAY_SECONDS:
        logs.append(f"delay of {seconds:g}s capped at {MAX_DELAY_SECONDS}s (30 days)")
        seconds = float(MAX_DELAY_SECONDS)
    seconds = math.ceil(seconds) if not float(seconds).is_integer() else seconds
    emitted = whole(seconds)
    if seconds <= 0:
        return Result(events=[{"seconds": emitted}], logs=logs)
    return Result(
        defer_until=ctx.now + seconds,
        state={"delay_seconds": emitted, "started": ctx.now},
        logs=[*logs, f"delaying {emitted}s"],
    )

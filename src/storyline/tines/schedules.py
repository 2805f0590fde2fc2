"""An action's Tines ``schedule``: when its next tick falls.

Tines exports a list of ``{"cron": "*/5 * * * *", "timezone": "America/Detroit"}``;
legacy (Huginn-era) exports carry strings such as ``"every_1h"`` or ``"never"``. Cron
is read by croniter in the entry's own time zone, so "9am in Chicago" stays 9am
across daylight-saving changes. Tines' minimum is one tick a minute, which is
what five-field cron allows; a seconds field is refused.

Daylight saving: a wall time skipped in spring runs at the jump (croniter's rule,
as cron's); a wall time repeated in autumn runs once for a schedule with fixed
hours ("30 1 * * *"), and at both instants for one that runs every hour anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

#: Tines types that may carry a schedule (tines-format.md §3: HTTP Request, Event
#: Transform, Send to Story, Send Email, Receive Email).
SCHEDULABLE_TYPES = frozenset(
    {
        "Agents::HTTPRequestAgent",
        "Agents::EventTransformationAgent",
        "Agents::SendToStoryAgent",
        "Agents::EmailAgent",
        "Agents::IMAPAgent",
    }
)

_NEVER = ("", "never")
_EVERY = re.compile(r"^every_(\d+)([mhd])$")
_CLOCK = re.compile(r"^(\d{1,2})(am|pm)$")


class ScheduleError(ValueError):
    """The schedule cannot be read; the message names the entry and says why."""


@dataclass(frozen=True)
class Cron:
    expression: str
    timezone: str = "UTC"

    def next_after(self, after: float) -> float:
        """The first tick strictly after ``after`` (epoch seconds)."""
        zone = ZoneInfo(self.timezone)
        ticks = croniter(self.expression, datetime.fromtimestamp(after, zone))
        fixed_hours = self.expression.split()[1] != "*"
        while True:
            tick: datetime = ticks.get_next(datetime)
            if fixed_hours and _repeated_wall_time(tick, zone):
                continue
            return tick.timestamp()


def _repeated_wall_time(tick: datetime, zone: ZoneInfo) -> bool:
    """Whether this is the second occurrence of a wall time that autumn's clock change repeats."""
    first = tick.replace(tzinfo=None).replace(tzinfo=zone, fold=0)
    return first.timestamp() < tick.timestamp()


def _huginn(value: str) -> str | None:
    """A legacy schedule string as cron (UTC), or None when it is not one."""
    if value == "midnight":
        return "0 0 * * *"
    if value == "noon":
        return "0 12 * * *"
    every = _EVERY.match(value)
    if every:
        n, unit = int(every.group(1)), every.group(2)
        if n < 1:
            return None
        if unit == "m":
            return f"*/{n} * * * *" if n < 60 else None
        if unit == "h":
            return f"0 */{n} * * *" if n < 24 else None
        return "0 0 * * *" if n == 1 else ("0 0 * * 0" if n == 7 else f"0 0 */{n} * *")
    clock = _CLOCK.match(value)
    if clock:
        hour = int(clock.group(1)) % 12 + (12 if clock.group(2) == "pm" else 0)
        return f"0 {hour} * * *" if int(clock.group(1)) <= 12 else None
    return None


def parse(value: Any) -> list[Cron]:
    """The crons of a schedule value; empty when the action is not scheduled."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NEVER):
        return []
    if isinstance(value, str):
        expression = _huginn(value.strip().lower())
        if expression is None:
            raise ScheduleError(
                f"schedule {value!r} is not a cron list nor a legacy value such as 'every_1h' or 'never'"
            )
        return [Cron(expression)]
    entries = [value] if isinstance(value, dict) else value
    if not isinstance(entries, list):
        raise ScheduleError(f"schedule must be a list of {{cron, timezone}}, not {type(value).__name__}")
    return [_entry(entry, index) for index, entry in enumerate(entries)]


def _entry(entry: Any, index: int) -> Cron:
    where = f"schedule[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("cron"), str):
        raise ScheduleError(f"{where} must be an object with a 'cron' string, like {{\"cron\": \"0 9 * * *\"}}")
    expression = " ".join(entry["cron"].split())
    fields = len(expression.split())
    if fields == 6:
        raise ScheduleError(
            f"{where}.cron {expression!r} has a seconds field; schedules run at most once a minute "
            "(use five fields: minute hour day month weekday)"
        )
    if fields != 5 or not croniter.is_valid(expression):
        raise ScheduleError(
            f"{where}.cron {expression!r} is not a cron expression (five fields: minute hour day month weekday)"
        )
    zone = entry.get("timezone") or "UTC"
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{where}.timezone {zone!r} is not a time zone name such as 'Europe/Dublin'") from None
    return Cron(expression, str(zone))


def next_tick(crons: list[Cron], after: float) -> float | None:
    """The earliest tick of any of the crons after ``after``; None when there are none."""
    return min((cron.next_after(after) for cron in crons), default=None)


def problems(action_type: str, value: Any) -> list[str]:
    """What is wrong with an action's schedule, for the importer (empty when fine)."""
    try:
        crons = parse(value)
    except ScheduleError as exc:
        return [str(exc)]
    if crons and action_type not in SCHEDULABLE_TYPES:
        kinds = ", ".join(sorted(t.removeprefix("Agents::") for t in SCHEDULABLE_TYPES))
        return [f"{action_type.removeprefix('Agents::')} actions cannot be scheduled (only {kinds})"]
    return []


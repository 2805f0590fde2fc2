"""Event Transform: reshape, split, join, filter or pace events; one ``mode`` per action.

Modes and what each emits under the action's key (the engine files it on top of the
incoming event), with the evidence behind each shape:

* ``message_only`` — the rendered ``payload``. Legacy (schema 1) exports have no
  ``payload``: their other keys *are* the payload (``{"mode": ..., "status": "{{...}}"}``
  or Huginn's single ``message``), minus Huginn/scheduler leftovers. With ``loop`` the
  payload is rendered once per element with ``LOOP`` = {value, index, key (objects only),
  previous_result} and the output is the list of results (Tines docs).
* ``extract`` — ``{to: matches}`` per matcher, with Ruby ``String#scan`` shapes because
  that is what stories index into: a pattern without capture groups gives a list of
  strings (``.extract_urls.urls`` is exploded into URLs); with groups, a list of
  group lists (``.extract_domain.domain.first.first``). Case-sensitive unless the
  pattern says ``(?i)``; ``^``/``$`` match at line breaks, as in Ruby.
* ``explode`` — one output per element: ``{"guid", "index", "size", <to>: element}``;
  the guid is shared by the elements of one explode, ``size`` counts what was emitted
  (after ``limit``) so an implode on ``size`` completes. A path that is not a list (or a
  JSON text of one) emits nothing, with a log line (Tines: "no Event will be generated").
* ``deduplicate`` — ``{"unique_event": true}`` (Tines docs; a real story reads
  ``.dedupe_action.unique_event``). Duplicates are dropped with a log line, or emitted
  with ``unique_event: false`` under ``emit_duplicate(s)``. Only emitted (unique) values
  are remembered, as in Huginn, so ``period`` counts from the last emitted event.
* ``delay`` — waits ``seconds`` or ``until`` (by asking the engine to run the job again
  later), then emits ``{"seconds": N}`` (Tines docs).
* ``implode`` — one output, the list of collected items (``item_path``, default the
  whole incoming event), once ``size_path`` items of one ``guid_path`` group arrived or
  ``seconds`` after the first one. Tines' documented output and every story that reads
  an implode (``.implode_emails | as_object``, ``.implode_emails.size``,
  ``{% for e in implode_breach_details %}{{ e.get_breach_details... }}``) use a list of
  whole events directly under the key.
* ``throttle`` — passes events on at most ``runs_per_interval`` runs per ``interval``,
  ``events_per_run`` events each, per ``throttle_key``; excess events wait for a later
  slot (never dropped). Emits ``{"capacity_per_minute": runs per minute}`` (Tines docs).
* ``automatic`` is refused: Tines generates its code with an AI model at build time.

Every mode also honours the common ``rules`` / ``must_match`` options: when present the
action only acts on events that match them (Trigger semantics).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext, truthy
from storyline.actions.state import ActionState
from storyline.actions.trigger import (
    compile_regex,
    evaluate_rules,
    is_templated,
    regex_failure,
    regex_problem,
    render_option,
    ruby_text,
    to_number,
    validate_rules,
)
from storyline.templating import regexes

TYPE = "Agents::EventTransformationAgent"
DESCRIPTION = "Reshape, extract, explode, implode, deduplicate, delay or throttle events."
PURE = True

MODES = ("message_only", "extract", "explode", "deduplicate", "delay", "implode", "throttle")
UNSUPPORTED_MODES = {"automatic": "it needs Tines' AI to generate its code"}

# Options that control the action rather than being part of a legacy message_only payload.
CONTROL_OPTIONS = frozenset(
    {
        "mode",
        "loop",
        "rules",
        "must_match",
        "include_metadata",
        "expected_update_period_in_days",
        "manual_time",
        "local",
    }
)
LOOP_LIMIT = 20_000
EXPLODE_LIMIT = 500
LOOKBACK_DEFAULT = 100
LOOKBACK_MAX = 1000
MAX_DELAY_SECONDS = 30 * 86_400
INTERVALS = {"minute": 60, "hour": 3_600, "day": 86_400}
EVENTS_PER_RUN_MAX = 10

DEDUPE_BUCKET = "dedupe"


# ---------------------------------------------------------------------------
# small option readers
# ---------------------------------------------------------------------------


def _literal_number(options: Mapping[str, Any], name: str) -> tuple[bool, float | None]:
    """(present and literal, its number or None when not numeric); templated values are skipped."""
    value = options.get(name)
    if value is None or value == "" or is_templated(value):
        return False, None
    return True, to_number(value)


def _number_option(ctx: RunContext, name: str, default: float | None = None) -> float | None:
    """A rendered numeric option; blank gives ``default``; text that is not a number is an error."""
    value = ctx.option(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None if default is None else float(default)
    number = to_number(value)
    if number is None:
        raise ActionError(f"option '{name}' must be a number (got {value!r})")
    return number


def _whole(number: float) -> int | float:
    """Keep whole numbers as ints in emitted JSON (``{"seconds": 30}``, not ``30.0``)."""
    return int(number) if float(number).is_integer() else number


STATEFUL_MODES = ("deduplicate", "implode", "throttle")


def needs_state(options: Mapping[str, Any]) -> bool:
    """Whether a run must see and write the action's state in the transaction that records it."""
    return options.get("mode") in STATEFUL_MODES


def _need_state(ctx: RunContext, mode: str) -> ActionState:
    if ctx.state is None:
        raise ActionError(f"{mode} mode needs action state, and this runtime provides none")
    return ctx.state


def _parse_json_list(value: Any) -> Any:
    """Templates often render a list as its JSON text; read it back as the list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def _validate_message_only(options: Mapping[str, Any]) -> list[str]:
    return []


def _validate_extract(options: Mapping[str, Any]) -> list[str]:
    matchers = options.get("matchers")
    if not isinstance(matchers, list) or not matchers:
        return ["option 'matchers' must be a non-empty list of {path, regexp, to}"]
    problems: list[str] = []
    for index, matcher in enumerate(matchers):
        where = f"matchers[{index}]"
        if not isinstance(matcher, Mapping):
            problems.append(f"option '{where}' must be an object with path, regexp and to")
            continue
        if "path" not in matcher:
            problems.append(f"option '{where}.path' is required (a template yielding the text to search)")
        if matcher.get("regexp") in (None, ""):
            problems.append(f"option '{where}.regexp' is required")
        else:
            problem = regex_problem(matcher["regexp"], f"{where}.regexp")
            if problem:
                problems.append(problem)
        to = matcher.get("to")
        if not isinstance(to, str) or not to.strip():
            problems.append(f"option '{where}.to' must name the key that receives the matches")
    return problems


def _validate_explode(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if options.get("path") in (None, ""):
        problems.append("option 'path' is required (a template yielding the list to explode)")
    to = options.get("to")
    if not isinstance(to, str) or not to.strip():
        problems.append("option 'to' must name the key that receives each element")
    literal, limit = _literal_number(options, "limit")
    if literal and (limit is None or not limit.is_integer() or limit < 1):
        problems.append(f"option 'limit' must be a positive whole number (got {options.get('limit')!r})")
    return problems


def _validate_deduplicate(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "path" not in options:
        problems.append("option 'path' is required (a template yielding the value that must be unique)")
    has_lookback = options.get("lookback") not in (None, "")
    has_period = options.get("period") not in (None, "")
    if has_lookback and has_period:
        problems.append("options 'lookback' and 'period' exclude each other: use one of them")
    literal, lookback = _literal_number(options, "lookback")
    if literal and (lookback is None or not lookback.is_integer() or not 1 <= lookback <= LOOKBACK_MAX):
        problems.append(
            f"option 'lookback' must be a whole number from 1 to {LOOKBACK_MAX} (got {options.get('lookback')!r})"
        )
    literal, period = _literal_number(options, "period")
    if literal and (period is None or period <= 0):
        problems.append(
            f"option 'period' must be a positive number of seconds (got {options.get('period')!r})"
        )
    literal, tolerance = _literal_number(options, "tolerance")
    if literal and (tolerance is None or not tolerance.is_integer() or tolerance < 1):
        problems.append(
            f"option 'tolerance' must be a positive whole number (got {options.get('tolerance')!r})"
        )
    return problems


def _validate_delay(options: Mapping[str, Any]) -> list[str]:
    has_seconds = options.get("seconds") not in (None, "")
    has_until = options.get("until") not in (None, "")
    if has_seconds == has_until:
        return ["delay mode needs exactly one of option 'seconds' or option 'until'"]
    problems: list[str] = []
    literal, seconds = _literal_number(options, "seconds")
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


def _validate_implode(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if options.get("guid_path") in (None, ""):
        problems.append(
            "option 'guid_path' is required (a template yielding the group, e.g. the explode's guid)"
        )
    has_size = options.get("size_path") not in (None, "")
    has_seconds = options.get("seconds") not in (None, "")
    if not has_size and not has_seconds:
        problems.append("implode mode needs option 'size_path' or option 'seconds' (or both)")
    literal, size = _literal_number(options, "size_path")
    if literal and (size is None or not size.is_integer() or size < 1):
        problems.append(
            f"option 'size_path' must be a positive whole number (got {options.get('size_path')!r})"
        )
    literal, seconds = _literal_number(options, "seconds")
    if literal and (seconds is None or seconds <= 0):
        problems.append(
            f"option 'seconds' must be a positive number of seconds (got {options.get('seconds')!r})"
        )
    return problems


def _validate_throttle(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    interval = options.get("interval")
    if interval not in (None, "") and not is_templated(interval) and interval not in INTERVALS:
        problems.append(f"option 'interval' must be one of {', '.join(INTERVALS)} (got {interval!r})")
    for name in ("runs_per_interval", "capacity"):
        literal, runs = _literal_number(options, name)
        if literal and (runs is None or not runs.is_integer() or runs < 1):
            problems.append(f"option '{name}' must be a positive whole number (got {options.get(name)!r})")
    literal, per_run = _literal_number(options, "events_per_run")
    if literal and (per_run is None or not per_run.is_integer() or not 1 <= per_run <= EVENTS_PER_RUN_MAX):
        problems.append(
            f"option 'events_per_run' must be a whole number from 1 to {EVENTS_PER_RUN_MAX} "
            f"(got {options.get('events_per_run')!r})"
        )
    return problems


_VALIDATORS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "message_only": _validate_message_only,
    "extract": _validate_extract,
    "explode": _validate_explode,
    "deduplicate": _validate_deduplicate,
    "delay": _validate_delay,
    "implode": _validate_implode,
    "throttle": _validate_throttle,
}


def validate(options: Mapping[str, Any]) -> list[str]:
    """Problems with the options, each a sentence naming the option, before anything runs."""
    mode = options.get("mode")
    if mode in UNSUPPORTED_MODES:
        return [f"option 'mode' is '{mode}', which storyline does not support: {UNSUPPORTED_MODES[mode]}"]
    if mode not in _VALIDATORS:
        return [f"option 'mode' must be one of {', '.join(MODES)} (got {mode!r})"]
    problems = _VALIDATORS[mode](options)
    if "rules" in options:
        problems.extend(validate_rules(options, required=False))
    return problems


# ---------------------------------------------------------------------------
# message_only
# ---------------------------------------------------------------------------


def _loop_enabled(loop: Any) -> bool:
    if loop is None or loop is False:
        return False
    return not (isinstance(loop, str) and loop.strip().lower() in ("", "false"))


def _message_only(ctx: RunContext) -> Result:
    options = ctx.action.options
    legacy = "payload" not in options
    template = (
        {key: value for key, value in options.items() if key not in CONTROL_OPTIONS}
        if legacy
        else options["payload"]
    )
    if not _loop_enabled(options.get("loop")):
        if legacy:  # render key by key so a template error names its option
            return Result(events=[{key: render_option(ctx, value, key) for key, value in template.items()}])
        return Result(events=[render_option(ctx, template, "payload")])

    collection = _parse_json_list(ctx.option("loop"))
    if collection is None or collection == "":
        return Result(events=[[]], logs=["loop: the path yielded nothing; emitting an empty list"])
    if isinstance(collection, Mapping):
        elements: list[tuple[str | None, Any]] = [(str(key), value) for key, value in collection.items()]
    elif isinstance(collection, list):
        elements = [(None, value) for value in collection]
    else:
        raise ActionError(f"option 'loop' must yield a list or an object, got {type(collection).__name__}")
    if len(elements) >= LOOP_LIMIT:
        raise ActionError(
            f"option 'loop' yielded {len(elements)} elements; loops are limited to fewer than {LOOP_LIMIT} "
            "(split the list first, e.g. with CHUNK_ARRAY)"
        )
    results: list[Any] = []
    previous: Any = None
    for index, (key, value) in enumerate(elements):
        loop: dict[str, Any] = {"value": value, "index": index, "previous_result": previous}
        if key is not None:
            loop["key"] = key
        previous = ctx.render_with(template, {"LOOP": loop})
        results.append(previous)
    return Result(events=[results])


# ---------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------


def _extract(ctx: RunContext) -> Result:
    matchers = ctx.action.options.get("matchers")
    if not isinstance(matchers, list):
        raise ActionError("option 'matchers' must be a list of {path, regexp, to}")
    output: dict[str, list[Any]] = {}
    for index, matcher in enumerate(matchers):
        where = f"matchers[{index}]"
        text = ruby_text(render_option(ctx, matcher.get("path"), f"{where}.path"))
        pattern = matcher.get("regexp")
        if is_templated(pattern):
            pattern = render_option(ctx, pattern, f"{where}.regexp")
        to = ruby_text(render_option(ctx, matcher.get("to"), f"{where}.to"))
        try:
            found = compile_regex(ruby_text(pattern), False).scan(text)
        except regexes.RegexError as exc:
            raise regex_failure(exc, f"option '{where}.regexp'") from None
        output.setdefault(to, []).extend(found)
    return Result(events=[output])


# ---------------------------------------------------------------------------
# explode
# ---------------------------------------------------------------------------


def _explode(ctx: RunContext) -> Result:
    value = _parse_json_list(ctx.option("path"))
    if not isinstance(value, list):
        kind = "nothing" if value in (None, "") else f"a {type(value).__name__}, not a list"
        return Result(logs=[f"explode: option 'path' yielded {kind}; no events emitted"])
    limit_number = _number_option(ctx, "limit", EXPLODE_LIMIT)
    if limit_number is None or not limit_number.is_integer() or limit_number < 1:
        raise ActionError(f"option 'limit' must be a positive whole number (got {ctx.option('limit')!r})")
    limit = int(limit_number)
    to = ruby_text(ctx.option("to")).strip()
    if not to:
        raise ActionError("option 'to' must name the key that receives each element")
    logs: list[str] = []
    if len(value) > limit:
        logs.append(f"explode: {len(value)} elements, emitting the first {limit} (option 'limit')")
    elements = value[:limit]
    guid = str(uuid.uuid4())
    events = [
        {"guid": guid, "index": index, "size": len(elements), to: element}
        for index, element in enumerate(elements)
    ]
    return Result(events=events, logs=logs)


# ---------------------------------------------------------------------------
# deduplicate
# ---------------------------------------------------------------------------


def _fingerprint(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _deduplicate(ctx: RunContext) -> Result:
    state = _need_state(ctx, "deduplicate")
    key = _fingerprint(ctx.option("path"))
    tolerance_number = _number_option(ctx, "tolerance", 1)
    tolerance = max(1, int(tolerance_number or 1))
    period = _number_option(ctx, "period")
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
        lookback_number = _number_option(ctx, "lookback", LOOKBACK_DEFAULT) or LOOKBACK_DEFAULT
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
    if truthy(ctx.option("emit_duplicate", False)) or truthy(ctx.option("emit_duplicates", False)):
        return Result(events=[{"unique_event": False}], logs=["duplicate emitted (emit_duplicate)"])
    return Result(logs=[f"duplicate: value seen {seen} time(s) within the window; not emitted"])


# ---------------------------------------------------------------------------
# delay
# ---------------------------------------------------------------------------

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


def _delay(ctx: RunContext) -> Result:
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
        number = _number_option(ctx, "seconds")
        if number is None:
            raise ActionError("delay mode needs option 'seconds' or option 'until'")
        if number < 0:
            raise ActionError(f"option 'seconds' must not be negative (got {ctx.option('seconds')!r})")
        seconds = number
    if seconds > MAX_DELAY_SECONDS:
        logs.append(f"delay of {seconds:g}s capped at {MAX_DELAY_SECONDS}s (30 days)")
        seconds = float(MAX_DELAY_SECONDS)
    seconds = math.ceil(seconds) if not float(seconds).is_integer() else seconds
    emitted = _whole(seconds)
    if seconds <= 0:
        return Result(events=[{"seconds": emitted}], logs=logs)
    return Result(
        defer_until=ctx.now + seconds,
        state={"delay_seconds": emitted, "started": ctx.now},
        logs=[*logs, f"delaying {emitted}s"],
    )


# ---------------------------------------------------------------------------
# implode
# ---------------------------------------------------------------------------


def _implode_buckets(guid: str) -> tuple[str, str]:
    """Where a group's items live, and a small per-item marker list used to count them.

    Counting the markers keeps each arrival from reading every collected (possibly large)
    event; the items are read once, when the group is emitted.
    """
    return f"implode:{guid}", f"implode-count:{guid}"


def _implode(ctx: RunContext) -> Result:
    state = _need_state(ctx, "implode")
    if isinstance(ctx.job_state, Mapping) and "implode_group" in ctx.job_state:
        # The timeout run of the job that opened the group: emit whatever was collected,
        # unless the group already completed by size (then the buckets were cleared, or
        # hold a newer group with another token).
        items_bucket, count_bucket = _implode_buckets(ctx.job_state["guid"])
        markers = state.items(count_bucket)
        if markers and markers[0].get("group") == ctx.job_state["implode_group"]:
            items = state.items(items_bucket)
            state.clear(items_bucket)
            state.clear(count_bucket)
            return Result(events=[items], logs=[f"implode: timeout reached with {len(items)} item(s)"])
        return Result(logs=["implode: group already emitted; nothing to do at timeout"])

    guid = ruby_text(ctx.option("guid_path")).strip()
    if not guid:
        raise ActionError(
            "option 'guid_path' rendered empty; it must identify the group (e.g. the explode's guid)"
        )
    size_value = ctx.option("size_path")
    size: int | None = None
    if size_value is not None and not (isinstance(size_value, str) and not size_value.strip()):
        number = to_number(size_value)
        if number is None or not number.is_integer() or number < 1:
            raise ActionError(f"option 'size_path' must yield a positive whole number (got {size_value!r})")
        size = int(number)
    seconds = _number_option(ctx, "seconds")
    if seconds is not None and seconds <= 0:
        raise ActionError(f"option 'seconds' must be a positive number (got {ctx.option('seconds')!r})")
    if size is None and seconds is None:
        raise ActionError(
            "option 'size_path' rendered empty and no 'seconds' is set: the group could never close"
        )

    item = ctx.option("item_path") if "item_path" in ctx.action.options else dict(ctx.event)
    items_bucket, count_bucket = _implode_buckets(guid)
    markers = state.items(count_bucket)
    token = markers[0]["group"] if markers else uuid.uuid4().hex
    count = len(markers) + 1
    if size is not None and count >= size:
        items = [*state.items(items_bucket), item]
        state.clear(items_bucket)
        state.clear(count_bucket)
        return Result(events=[items], logs=[f"implode: {count} of {size} item(s) collected"])
    state.append(items_bucket, item)
    state.append(count_bucket, {"group": token})
    if not markers and seconds is not None:
        return Result(
            defer_until=ctx.now + seconds,
            state={"implode_group": token, "guid": guid},
            logs=[f"implode: group opened; emitting after {seconds:g}s unless it fills first"],
        )
    expected = f" of {size}" if size is not None else ""
    return Result(logs=[f"implode: {count}{expected} item(s) collected"])


# ---------------------------------------------------------------------------
# throttle
# ---------------------------------------------------------------------------


def _throttle(ctx: RunContext) -> Result:
    """Reserve the earliest run slot with room; emit now if that slot is the current one.

    An interval is cut into ``runs_per_interval`` evenly spaced slots (Tines: "runs will be
    evenly spaced out"), each passing up to ``events_per_run`` events. Reservations are
    appended in slot order, so the newest few tell where the queue ends; an event that
    finds its slot in the future is re-run at that slot's start (``defer_until``).
    """
    state = _need_state(ctx, "throttle")
    interval_name = ruby_text(ctx.option("interval", "minute")).strip().lower() or "minute"
    if interval_name not in INTERVALS:
        raise ActionError(f"option 'interval' must be one of {', '.join(INTERVALS)} (got {interval_name!r})")
    interval = INTERVALS[interval_name]
    if ctx.action.options.get("runs_per_interval") in (None, "") and "capacity" in ctx.action.options:
        runs_number = _number_option(ctx, "capacity", 1)  # legacy: runs per minute
        interval = 60
    else:
        runs_number = _number_option(ctx, "runs_per_interval", 1)
    if runs_number is None or not runs_number.is_integer() or runs_number < 1:
        raise ActionError(f"option 'runs_per_interval' must be a positive whole number (got {runs_number!r})")
    per_run_number = _number_option(ctx, "events_per_run", 1)
    if (
        per_run_number is None
        or not per_run_number.is_integer()
        or not 1 <= per_run_number <= EVENTS_PER_RUN_MAX
    ):
        raise ActionError(f"option 'events_per_run' must be a whole number from 1 to {EVENTS_PER_RUN_MAX}")
    runs, per_run = int(runs_number), int(per_run_number)
    output = {"capacity_per_minute": _whole(round(runs * 60 / interval, 6))}

    if isinstance(ctx.job_state, Mapping) and "throttle_slot" in ctx.job_state:
        return Result(events=[output])

    spacing = interval / runs
    key = ruby_text(ctx.option("throttle_key", "")).strip()
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


# ---------------------------------------------------------------------------
# the action
# ---------------------------------------------------------------------------

_RUNNERS: dict[str, Callable[[RunContext], Result]] = {
    "message_only": _message_only,
    "extract": _extract,
    "explode": _explode,
    "deduplicate": _deduplicate,
    "delay": _delay,
    "implode": _implode,
    "throttle": _throttle,
}


def run(ctx: RunContext) -> Result:
    """Run the configured mode; the common ``rules`` gate it on the first run of a job."""
    mode = ctx.action.options.get("mode")
    if mode in UNSUPPORTED_MODES:
        raise ActionError(f"mode '{mode}' is not supported: {UNSUPPORTED_MODES[mode]}")
    runner = _RUNNERS.get(str(mode))
    if runner is None:
        raise ActionError(f"option 'mode' must be one of {', '.join(MODES)} (got {mode!r})")
    logs: list[str] = []
    if ctx.action.options.get("rules") and ctx.job_state is None:
        matched, logs = evaluate_rules(ctx)
        if not matched:
            return Result(logs=[*logs, "rules did not match: nothing emitted"])
    result = runner(ctx)
    result.logs[:0] = logs
    return result

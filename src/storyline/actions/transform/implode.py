"""Event Transform's ``implode`` mode.

Emits one output, the list of collected items (``item_path``, default the whole incoming event),
once ``size_path`` items of one ``guid_path`` group arrived or ``seconds`` after the first one.
Tines' documented output and every story that reads an implode (``.implode_emails | as_object``,
``.implode_emails.size``, ``{% for e in implode_breach_details %}{{ e.get_breach_details...
}}``) use a list of whole events directly under the key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.transform.options import literal_number, need_state, number_option
from storyline.templating.values import to_number, to_text

STATEFUL = True
"""Runs see and write the action's state in the transaction that records them."""


def _implode_buckets(guid: str) -> tuple[str, str]:
    """Where a group's items live, and a small per-item marker list used to count them.

    Counting the markers keeps each arrival from reading every collected (possibly large)
    event; the items are read once, when the group is emitted.
    """
    return f"implode:{guid}", f"implode-count:{guid}"


def validate(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if options.get("guid_path") in (None, ""):
        problems.append(
            "option 'guid_path' is required (a template yielding the group, e.g. the explode's guid)"
        )
    has_size = options.get("size_path") not in (None, "")
    has_seconds = options.get("seconds") not in (None, "")
    if not has_size and not has_seconds:
        problems.append("implode mode needs option 'size_path' or option 'seconds' (or both)")
    literal, size = literal_number(options, "size_path")
    if literal and (size is None or not size.is_integer() or size < 1):
        problems.append(
            f"option 'size_path' must be a positive whole number (got {options.get('size_path')!r})"
        )
    literal, seconds = literal_number(options, "seconds")
    if literal and (seconds is None or seconds <= 0):
        problems.append(
            f"option 'seconds' must be a positive number of seconds (got {options.get('seconds')!r})"
        )
    return problems


def run(ctx: RunContext) -> Result:
    state = need_state(ctx, "implode")
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

    guid = to_text(ctx.option("guid_path")).strip()
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
    seconds = number_option(ctx, "seconds")
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

"""Event Transform's ``explode`` mode.

Emits one output per element: ``{"guid", "index", "size", <to>: element}``; the guid is shared
by the elements of one explode, ``size`` counts what was emitted (after ``limit``) so an implode
on ``size`` completes. A path that is not a list (or a JSON text of one) emits nothing, with a
log line (Tines: "no Event will be generated").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.transform.options import literal_number, number_option, parse_json_list
from storyline.templating.values import to_text

EXPLODE_LIMIT = 500

STATEFUL = False
"""Runs need no action state."""


def validate(options: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if options.get("path") in (None, ""):
        problems.append("option 'path' is required (a template yielding the list to explode)")
    to = options.get("to")
    if not isinstance(to, str) or not to.strip():
        problems.append("option 'to' must name the key that receives each element")
    literal, limit = literal_number(options, "limit")
    if literal and (limit is None or not limit.is_integer() or limit < 1):
        problems.append(f"option 'limit' must be a positive whole number (got {options.get('limit')!r})")
    return problems


def run(ctx: RunContext) -> Result:
    value = parse_json_list(ctx.option("path"))
    if not isinstance(value, list):
        kind = "nothing" if value in (None, "") else f"a {type(value).__name__}, not a list"
        return Result(logs=[f"explode: option 'path' yielded {kind}; no events emitted"])
    limit_number = number_option(ctx, "limit", EXPLODE_LIMIT)
    if limit_number is None or not limit_number.is_integer() or limit_number < 1:
        raise ActionError(f"option 'limit' must be a positive whole number (got {ctx.option('limit')!r})")
    limit = int(limit_number)
    to = to_text(ctx.option("to")).strip()
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

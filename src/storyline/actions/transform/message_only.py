"""Event Transform's ``message_only`` mode.

Emits the rendered ``payload``. Legacy (schema 1) exports have no ``payload``: their other keys
*are* the payload (``{"mode": ..., "status": "{{...}}"}`` or Huginn's single ``message``), minus
Huginn/scheduler leftovers. With ``loop`` the payload is rendered once per element with ``LOOP``
= {value, index, key (objects only), previous_result} and the output is the list of results
(Tines docs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext, render_option
from storyline.actions.transform.options import parse_json_list

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

STATEFUL = False
"""Runs need no action state."""


def _loop_enabled(loop: Any) -> bool:
    if loop is None or loop is False:
        return False
    return not (isinstance(loop, str) and loop.strip().lower() in ("", "false"))


def validate(options: Mapping[str, Any]) -> list[str]:
    """Any payload renders: nothing to check before it runs."""
    return []


def run(ctx: RunContext) -> Result:
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

    collection = parse_json_list(ctx.option("loop"))
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

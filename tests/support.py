"""What tests share beyond fixtures: waiting for a condition, and a context to run an action in.

Tests never sleep a fixed time to let something happen: they wait with ``eventually``
for what they expect, so a busy machine makes them slower, never wrong. A deadline
only bounds how long a failing test takes, so it is generous.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from storyline.actions.base import ActionSpec, RunContext

INTERVAL = 0.02
BUSY = 5.0
"""Seconds a busy machine (xdist's workers, other test runs) may add to a timing a test asserts:
a bound like ``limit + BUSY`` still tells "stopped at the limit" from "ran on unchecked"."""


def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str | Callable[[], Any] = "") -> Any:
    """Call ``check`` until it returns something true, and return that; fail after ``timeout`` seconds.

    From a coroutine, await it: it then waits with ``asyncio.sleep`` so that the event
    loop (and the in-process service on it) runs meanwhile, and ``check`` may be async.
    ``what`` describes the condition in the failure, or is called to describe it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _poll(check, timeout, what)
    return _poll_async(check, timeout, what)


def _poll(check: Callable[[], Any], timeout: float, what: str | Callable[[], Any]) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            _fail(timeout, what, value)
        time.sleep(INTERVAL)
    return value


async def _poll_async(check: Callable[[], Any], timeout: float, what: str | Callable[[], Any]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            _fail(timeout, what, value)
        await asyncio.sleep(INTERVAL)


def _fail(timeout: float, what: str | Callable[[], Any], last: Any) -> None:
    described = what() if callable(what) else what
    raise AssertionError(f"not within {timeout:g}s: {described or 'condition'} (last: {last!r})")


def run_context(
    action_type: str,
    options: Mapping[str, Any],
    *,
    event: Mapping[str, Any] | None = None,
    name: str = "Action",
    action_id: int = 1,
    scope: Any = None,
    now: float = 0.0,
    **fields: Any,
) -> RunContext:
    """A ``RunContext`` for calling an action type's ``run`` directly, without an engine.

    Rendering is the identity unless ``render``/``render_event`` are given: the options
    are taken as already rendered. ``scope`` is only needed by actions that read
    credentials or resources.
    """
    spec = ActionSpec(id=action_id, story_id=1, guid=f"guid-{action_id}", name=name,
                      key=name.lower().replace(" ", "_"), type=action_type, options=dict(options))
    story_run = getattr(scope, "story_run", "run-1")
    return RunContext(action=spec, event=event or {}, story_run=story_run, scope=scope, now=now, **fields)

"""A person's answer to a prompt (``{% prompt STATUS %}``), recorded before anyone is told it was.

A prompt URL comes back opened in a browser or POSTed by a card (``/prompt``, see
``storyline.web.prompts``), or carried by a chat button to a webhook (see
``storyline.engine.intake``); either way it is answered here. A forged or altered URL
records nothing; a URL whose event has expired or been purged is ``gone``; else the
prompted action emits ``{"prompt": {"status": ...}}`` on top of the event it
received, in that event's story run, and the events and jobs downstream commit in
the same transaction before the caller answers (as a webhook's ``ingest`` does).

A repeated click of the same status on the same event is recorded once: a double
click, or a mail scanner fetching the link again, must not approve twice. Different
statuses on one event each count, as Tines records each click.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.engine import Connection

from storyline.actions.base import ActionSpec, Result
from storyline.credentials import signing
from storyline.engine import queue
from storyline.engine.catalog import Catalog
from storyline.engine.runtime import Runtime
from storyline.engine.service import Service
from storyline.store import events
from storyline.store.queries import iso
from storyline.store.state import SqlActionState


@dataclass(frozen=True)
class Answer:
    """How a click went: ``recorded`` now, ``repeated`` (recorded before, at ``at``), or ``gone``."""

    outcome: Literal["recorded", "repeated", "gone"]
    action: ActionSpec | None = None
    at: float | None = None


def verified(service: Service, params: Mapping[str, str]) -> signing.Prompt | None:
    """The prompt a URL's query names, or None when it is incomplete or was altered."""
    key = service.runtime.prompt_key
    return signing.verify(key, params) if key is not None else None


async def receive(
    service: Service, prompt: signing.Prompt, now: float, by: Mapping[str, Any] | None = None,
) -> Answer:
    """Record the answer (durable once this returns) and wake the worker for what follows it.

    ``by`` is what a chat platform says about the click (who, which button), added to the output.
    """
    catalog = await service.catalogs.get()
    if prompt.action_id not in catalog.actions:  # a story imported since the catalog was read
        catalog = await service.catalogs.get(force=True)
    result = await service.db.write(answer, catalog, service.runtime, prompt, now, by)
    if result.outcome != "gone":
        service.wake()
    return result


def answer(
    conn: Connection, catalog: Catalog, runtime: Runtime, prompt: signing.Prompt, now: float,
    by: Mapping[str, Any] | None = None,
) -> Answer:
    """Make the prompted action emit the status in the original story run, in ``conn``'s transaction."""
    action = catalog.actions.get(prompt.action_id)
    story_run = events.run_of(conn, prompt.event_id, now)
    if action is None or story_run is None or story_run != prompt.story_run:
        return Answer("gone", action)
    incoming = events.view(conn, prompt.event_id) or {}
    # The state locks the action's row on PostgreSQL, which orders concurrent clicks.
    state = SqlActionState(conn, action.id, now)
    bucket = f"prompt:{prompt.event_id}"
    for earlier in state.items(bucket):
        if earlier.get("status") == prompt.status:
            return Answer("repeated", action, earlier.get("at"))
    state.append(bucket, {"status": prompt.status, "at": now})
    output = {"prompt": {"status": prompt.status, "agent_id": action.id, "event_id": prompt.event_id,
                         "answered_at": iso(now), **(by or {})}}
    result = Result(events=[output], logs=[f"prompt answered: {prompt.status}"])
    queue.emit(conn, catalog, runtime, action, incoming, result, story_run, now, parent_id=prompt.event_id)
    return Answer("recorded", action, now)

"""GET or POST /prompt?e=&a=&r=&s=&sig=: a person's answer to a prompt, recorded before the page shows.

Slack and Teams buttons open the URL in a browser (GET); some card actions POST it;
e-mail links are GETs. All are answered the same way: a forged or altered URL gets
403 and records nothing; a URL whose event has expired or been purged gets 410; else
the prompted action emits ``{"prompt": {"status": ...}}`` on top of the event it
received, in that event's story run, and the events and jobs downstream commit in
the same transaction before the page is sent (as a webhook's ``ingest`` does).

A repeated click of the same status on the same event is recorded once: a double
click, or a mail scanner fetching the link again, must not approve twice. Different
statuses on one event each count, as Tines records each click.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storyline.actions.base import ActionSpec, Result
from storyline.credentials import signing
from storyline.engine import queue
from storyline.engine.catalog import Catalog
from storyline.engine.runtime import Runtime
from storyline.engine.service import Service
from storyline.store import events
from storyline.store import tables as t
from storyline.store.queries import iso
from storyline.store.state import SqlActionState
from storyline.web.pages import page

# Chat apps fetch links posted in messages to draw previews; nobody clicked those.
PREVIEW_AGENTS = ("Slackbot-LinkExpanding", "SkypeUriPreview")


@dataclass(frozen=True)
class Answer:
    """How a click went: ``recorded`` now, ``repeated`` (recorded before, at ``at``), or ``gone``."""

    outcome: Literal["recorded", "repeated", "gone"]
    action: ActionSpec | None = None
    at: float | None = None


def answer(
    conn: Connection, catalog: Catalog, runtime: Runtime, prompt: signing.Prompt, now: float,
    by: Mapping[str, Any] | None = None,
) -> Answer:
    """Make the prompted action emit the status in the original story run; durable once committed.

    ``by`` is what a chat platform says about the click (who, which button), added to the output.
    """
    action = catalog.actions.get(prompt.action_id)
    e = t.events.c
    row = conn.execute(sa.select(e.story_run, e.expires_at).where(e.id == prompt.event_id)).one_or_none()
    if action is None or row is None or row.expires_at < now or row.story_run != prompt.story_run:
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
    queue.emit(conn, catalog, runtime, action, incoming, result, row.story_run, now, parent_id=prompt.event_id)
    return Answer("recorded", action, now)


def routes(service: Service) -> list[Route]:
    async def receive(request: Request) -> Response:
        key = service.runtime.prompt_key
        prompt = signing.verify(key, request.query_params) if key is not None else None
        if prompt is None:
            return page(403, "This link is not valid",
                        "The prompt link is incomplete or has been altered, so no answer was recorded.")
        agent = request.headers.get("user-agent", "")
        if request.method == "HEAD" or any(name in agent for name in PREVIEW_AGENTS):
            return page(200, "Prompt", f"Open this link to answer \u201c{prompt.status}\u201d.")
        catalogs = service.catalogs
        if catalogs.due():
            await service.db.read(catalogs.refresh)
        if prompt.action_id not in catalogs.current.actions:
            await service.db.read(lambda conn: catalogs.refresh(conn, force=True))
        result = await service.db.write(answer, catalogs.current, service.runtime, prompt, time.time())
        if result.outcome == "gone":
            return page(410, "This prompt has expired",
                        "The event this prompt belongs to has expired or was purged, so the answer "
                        "cannot reach its story. Nothing was recorded.")
        service.wake()
        where = f" for \u201c{result.action.name}\u201d" if result.action is not None else ""
        if result.outcome == "repeated":
            return page(200, "Already answered",
                        f"The answer \u201c{prompt.status}\u201d{where} was already recorded at "
                        f"{iso(result.at)}; it was not sent again.")
        return page(200, "Thank you",
                    f"Your answer \u201c{prompt.status}\u201d{where} was recorded at {iso(result.at)}.")

    return [Route("/prompt", receive, methods=["GET", "POST"])]

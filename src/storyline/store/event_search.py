"""Searching events by story, action, time and text, with a bounded cost however many events are kept.

The filters on story, action and time narrow the events on their indexes (migration 0006), newest
first and keyset-paged by id like every list. Text has no index (events are JSON written at
webhook speed; a full-text index would tax every write for a search people run now and then), so a
text search reads at most :data:`SCAN` events per request: the newest ones the other filters
allow, below the cursor. When those hold fewer matches than a page, the answer says how far the
scan got (``scanned_to``), and the next request goes on from there. A page of a text search
therefore costs the same on a thousand events or on millions, and the caller is told that the
search is not finished rather than made to wait for it.

Text matches the JSON of what the event's action emitted (its own output, not the upstream view),
as a substring, ASCII letters in any case (alike on SQLite and PostgreSQL).

A time window is ordered by id like the rest: its ends are looked up on the ``created_at`` index and
turned into an id range (:data:`ID_ORDER_SLACK` wider), so an old window is read from where it
starts rather than by walking back from the newest event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t

SCAN = 20_000
"""Events a text search reads per request, at most."""
ID_ORDER_SLACK = 300.0
"""Seconds by which an event's id may be out of order with its ``created_at`` (a long job, another node's
clock): a time window is turned into an id range this much wider, then filtered by time exactly."""
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class Search:
    story_id: int | None = None
    action_id: int | None = None
    since: float | None = None
    """Epoch seconds: events created at or after it."""
    until: float | None = None
    """Epoch seconds: events created before it."""
    text: str = ""


@dataclass(frozen=True)
class Found:
    rows: list[dict[str, Any]]
    """Newest first: ``id``, ``story_id``, ``story``, ``action_id``, ``action``, ``action_key``,
    ``story_run``, ``created_at`` and ``payload`` (the event's own, ``{action key: output}``)."""
    scanned: int
    """Events a text search read (0 without text)."""
    scanned_to: int | None
    """A text search that read :data:`SCAN` events without filling the page: the smallest id it read,
    where the next request goes on (None when it was not cut short)."""


def _like(text: str) -> str:
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def _first_id_at(conn: Connection, when: float) -> int | None:
    """The id of the first event written at or after ``when`` (one step on the ``created_at`` index)."""
    e = t.events.c
    found = conn.execute(sa.select(e.id).where(e.created_at >= when).order_by(e.created_at).limit(1)).scalar()
    return None if found is None else int(found)


def search_events(conn: Connection, search: Search, *, before_id: int | None, limit: int,
                  scan: int = SCAN) -> Found:
    """Up to ``limit`` events matching ``search`` below ``before_id``, newest first."""
    e, a, s = t.events.c, t.actions.c, t.stories.c
    lowest = None if search.since is None else _first_id_at(conn, search.since - ID_ORDER_SLACK)
    highest = None if search.until is None else _first_id_at(conn, search.until + ID_ORDER_SLACK)
    if search.since is not None and lowest is None:
        return Found([], 0, None)  # nothing was written since then
    conditions = [condition for condition in (
        None if lowest is None else e.id >= lowest,
        None if highest is None else e.id < highest,
        None if search.story_id is None else e.story_id == search.story_id,
        None if search.action_id is None else e.action_id == search.action_id,
        None if search.since is None else e.created_at >= search.since,
        None if search.until is None else e.created_at < search.until,
        None if before_id is None else e.id < before_id,
    ) if condition is not None]
    columns = (e.id, e.story_id, s.name.label("story"), e.action_id, a.name.label("action"),
               a.key.label("action_key"), e.story_run, e.created_at, e.payload)
    query = (sa.select(*columns).join(t.actions, a.id == e.action_id).join(t.stories, s.id == e.story_id)
             .order_by(e.id.desc()).limit(limit))
    if not search.text:
        rows = conn.execute(query.where(*conditions)).mappings().all()
        return Found([dict(row) for row in rows], 0, None)
    # The window (the newest ``scan`` events the other filters allow) is found on their index alone,
    # then read as the id range it spans: one range scan, rather than a lookup per id in it.
    window = sa.select(e.id).where(*conditions).order_by(e.id.desc()).limit(scan).subquery()
    scanned, lowest = conn.execute(sa.select(sa.func.count(), sa.func.min(window.c.id))).one()
    if not scanned:
        return Found([], 0, None)
    rows = conn.execute(query.where(*conditions, e.id >= lowest, _matches(conn, search.text))).mappings().all()
    cut_short = scanned >= scan and len(rows) < limit
    return Found([dict(row) for row in rows], int(scanned), lowest if cut_short else None)


def _matches(conn: Connection, text: str) -> sa.ColumnElement[bool]:
    """The event's own JSON holds ``text``, ASCII letters in any case: SQLite's LIKE as it is (``ilike``
    would lower-case every payload first, twice the time), PostgreSQL's ILIKE under the "C" collation
    (under the database's UTF-8 one it lower-cases every character first: three times the time)."""
    payload: sa.ColumnElement[str] = sa.cast(t.events.c.payload, sa.Text)
    if conn.dialect.name == "postgresql":
        return payload.collate("C").ilike(_like(text), escape=LIKE_ESCAPE)
    return payload.like(_like(text), escape=LIKE_ESCAPE)

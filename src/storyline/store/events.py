"""Events as actions see them, assembled from what each action emitted.

An event row holds only its action's output under the action's key, and names the
event it was emitted on (``parent_id``, in the same story run). The event an action
receives, its *view*, is everything upstream plus that: the parent's view with this
row's keys set on top (``{**parent_view, key: output}``, as Tines shows it). So an
explode of a large body stores the body once, not once per element.

``views`` assembles any number of views with one query: a recursive CTE that
collects the events named and all their ancestors (each once, however many of the
events share it), then each view is built once and shared by its descendants'
views (shallow copies: the upstream values themselves are never copied).

A parent id always names the right event or nothing: retention removes an event only
once nothing names it as parent, and an id is never reused while a higher one exists
(SQLite hands out max(id) + 1; PostgreSQL never reuses). A row from before migration
0003 holds its whole view and no parent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t

#: Event ids per query: well under the bound-parameter limits of SQLite (32,766) and PostgreSQL.
CHUNK = 500


@functools.cache
def _views_statement() -> sa.Select[Any]:
    e = t.events
    seed = sa.select(e.c.id, e.c.parent_id).where(e.c.id.in_(sa.bindparam("ids", expanding=True)))
    chain = seed.cte("chain", recursive=True)
    up = e.alias("up")
    chain = chain.union(sa.select(up.c.id, up.c.parent_id).join(chain, up.c.id == chain.c.parent_id))
    return sa.select(e.c.id, e.c.parent_id, e.c.story_run, e.c.payload).where(e.c.id.in_(sa.select(chain.c.id)))


class Views:
    """The views of some events, by id; ``story_run`` says which run each belongs to."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = {row.id: row for row in rows}
        self._views: dict[int, dict[str, Any]] = {}

    def story_run(self, event_id: int) -> str | None:
        row = self._rows.get(event_id)
        return None if row is None else row.story_run

    def get(self, event_id: int) -> dict[str, Any] | None:
        """The event's view, or None when there is no such event (retention removed it)."""
        if event_id not in self._rows:
            return None
        # Walk up to the nearest ancestor already assembled (or the run's first event) ...
        chain: list[Any] = []
        node: int | None = event_id
        while node is not None and node not in self._views:
            row = self._rows.get(node)
            if row is None:
                break
            chain.append(row)
            parent = self._rows.get(row.parent_id) if row.parent_id is not None else None
            node = row.parent_id if parent is not None and parent.story_run == row.story_run else None
        base: Mapping[str, Any] = self._views.get(node, {}) if node is not None else {}
        # ... then build the views back down, each on its parent's.
        for row in reversed(chain):
            view = {**base, **row.payload}
            self._views[row.id] = view
            base = view
        return self._views[event_id]


def views(conn: Connection, event_ids: Iterable[int]) -> Views:
    """The views of these events (and of their ancestors, which come along)."""
    ids = sorted(set(event_ids))
    rows: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        rows.extend(conn.execute(_views_statement(), {"ids": ids[start : start + CHUNK]}))
    return Views(rows)


def view(conn: Connection, event_id: int) -> dict[str, Any] | None:
    """One event's view, or None when retention has removed it."""
    return views(conn, [event_id]).get(event_id)


def run_of(conn: Connection, event_id: int, now: float) -> str | None:
    """The story run of an event still kept at ``now``, or None when it has expired or been removed."""
    e = t.events.c
    row = conn.execute(sa.select(e.story_run, e.expires_at).where(e.id == event_id)).one_or_none()
    return None if row is None or row.expires_at < now else str(row.story_run)


def kept(conn: Connection, event_id: int, now: float) -> Any:
    """The event's ``id``, ``action_id``, ``story_id`` and ``story_run`` while it is kept at ``now``; None otherwise."""
    e = t.events.c
    return conn.execute(
        sa.select(e.id, e.action_id, e.story_id, e.story_run).where(e.id == event_id, e.expires_at >= now)
    ).one_or_none()

"""What stories and actions did lately, for the console's lists and graphs: counts over the last day.

The console draws these on every visit and every second while a graph is open, so each count
is a range over an index, never a scan of the events or runs kept. Events and story runs get
their ids in the order they are written, with the time they are written, so "since a moment"
is "from the first id written at or after it": one seek finds that id (on
``ix_events_created_at`` for events, by bisecting the primary key for runs), and each count
is then a range of ``ix_events_action (action_id, id)`` or ``ix_story_runs_story (story_id, id)``.
Failed jobs are found through ``ix_jobs_due (status, ...)``: only the failed ones are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t

SEARCH_LIMIT = 200
"""Characters of a name search that are matched (a story's name is at most 255)."""


def first_event_since(conn: Connection, since: float) -> int | None:
    """The id of the first event written at or after ``since`` (None: none since)."""
    e = t.events.c
    return conn.execute(sa.select(e.id).where(e.created_at >= since).order_by(e.created_at, e.id).limit(1)
                        ).scalar_one_or_none()


def first_run_since(conn: Connection, since: float) -> int | None:
    """The id of the first story run started at or after ``since`` (None: none since).

    Runs have no index on their start (each one would cost every webhook's write): the ids grow
    with the start times, so bisecting the primary key finds it in about 30 lookups of one row.
    """
    r = t.story_runs.c
    # Two statements: SQLite answers min() or max() alone from the index, but not both in one.
    low = conn.execute(sa.select(sa.func.min(r.id))).scalar_one()
    high = conn.execute(sa.select(sa.func.max(r.id))).scalar_one()
    at = sa.select(r.id, r.created_at).where(r.id >= sa.bindparam("from_id")).order_by(r.id).limit(1)

    def started(from_id: int) -> Any:  # the first run with an id from ``from_id`` on
        return conn.execute(at, {"from_id": from_id}).one()

    if high is None or started(high).created_at < since:
        return None
    while low < high:  # the first run from ``high`` on started since; from ``low - 1`` on, before
        middle = (low + high) // 2
        if started(middle).created_at >= since:
            high = middle
        else:
            low = middle + 1
    return int(started(low).id)


def story_rows(conn: Connection, search: str, limit: int) -> list[dict[str, Any]]:
    """Stories whose name holds ``search`` (any case), by name, each with its action count."""
    s, a = t.stories.c, t.actions.c
    count = sa.select(sa.func.count()).where(a.story_id == s.id).scalar_subquery()
    query = sa.select(s.id, s.guid, s.name, s.disabled, s.updated_at, count.label("actions"))
    wanted = search.strip()[:SEARCH_LIMIT]
    if wanted:
        escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.func.lower(s.name).like(f"%{escaped.lower()}%", escape="\\"))
    return [dict(row._mapping) for row in conn.execute(query.order_by(s.name, s.id).limit(limit))]


def story_runs(conn: Connection, story_ids: Sequence[int], first_run: int | None,
               since: float) -> dict[int, dict[str, Any]]:
    """Per story: when its last run started, its runs since ``first_run`` and its runs with a job that failed
    for good since ``since``."""
    if not story_ids:
        return {}
    r, j, a, s = t.story_runs.c, t.jobs.c, t.actions.c, t.stories.c
    # One statement for every story (a seek and a range of ix_story_runs_story each), not two per story:
    # on PostgreSQL each statement is a round trip, and a list of 500 stories would make a thousand.
    last = sa.select(r.created_at).where(r.story_id == s.id).order_by(r.id.desc()).limit(1).scalar_subquery()
    runs = (sa.select(sa.func.count()).where(r.story_id == s.id, r.id >= first_run).scalar_subquery()
            if first_run is not None else sa.literal(0))
    found: dict[int, dict[str, Any]] = {
        story_id: {"last_run_at": last_run_at, "runs": count, "failures": 0}
        for story_id, last_run_at, count in conn.execute(
            sa.select(s.id, last.label("last_run_at"), runs.label("runs")).where(s.id.in_(list(story_ids))))
    }
    failed = (sa.select(a.story_id, sa.func.count(sa.distinct(j.story_run)))
              .join(t.actions, a.id == j.action_id)
              .where(j.status == "failed", j.finished_at >= since, a.story_id.in_(list(story_ids)))
              .group_by(a.story_id))
    for story_id, count in conn.execute(failed):
        found[story_id]["failures"] = count
    return found


def action_events(conn: Connection, action_ids: Sequence[int], first_event: int | None) -> dict[int, int]:
    """Per action, its events from ``first_event`` on (a range of ``ix_events_action`` each)."""
    if not action_ids or first_event is None:
        return {}
    e = t.events.c
    query = (sa.select(e.action_id, sa.func.count()).where(e.action_id.in_(list(action_ids)), e.id >= first_event)
             .group_by(e.action_id))
    return {action_id: count for action_id, count in conn.execute(query)}


def last_failed(conn: Connection, action_ids: Sequence[int]) -> set[int]:
    """The actions whose last run failed: a job of theirs failed for good after their newest event was written.

    (Jobs have no index by action; an action that succeeds writes an event, so its newest event
    and its newest failure say which came last.)
    """
    if not action_ids:
        return set()
    j, e = t.jobs.c, t.events.c
    failures = conn.execute(
        sa.select(j.action_id, sa.func.max(j.finished_at))
        .where(j.status == "failed", j.action_id.in_(list(action_ids))).group_by(j.action_id)).all()
    marked = set()
    newest = sa.select(e.created_at).where(e.action_id == sa.bindparam("action")).order_by(e.id.desc()).limit(1)
    for action_id, failed_at in failures:
        written = conn.execute(newest, {"action": action_id}).scalar_one_or_none()
        if written is None or (failed_at is not None and failed_at >= written):
            marked.add(action_id)
    return marked


def newest_event(conn: Connection, story_id: int) -> int:
    """The id of the story's newest event (0: none), an index seek: what a live graph polls."""
    e = t.events.c
    return int(conn.execute(sa.select(sa.func.max(e.id)).where(e.story_id == story_id)).scalar_one() or 0)


def newest_log(conn: Connection) -> int:
    """The newest action log's id (0: none): a failure writes one, so a change tells a live graph to look again."""
    return int(conn.execute(sa.select(sa.func.max(t.logs.c.id))).scalar_one() or 0)


def story_exists(conn: Connection, story_id: int) -> bool:
    return conn.execute(sa.select(t.stories.c.id).where(t.stories.c.id == story_id)).first() is not None

"""Read-side queries for the CLI and the API: events, runs, logs."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.events import views


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_Query = TypeVar("_Query", bound=sa.Select)  # any columns: the filter keeps them


def _story_filter(query: _Query, story: str | None) -> _Query:
    if story:
        query = query.where(sa.or_(t.stories.c.name == story, t.stories.c.guid == story))
    return query


def list_events(
    conn: Connection, *, story: str | None = None, action: str | None = None, run: str | None = None,
    limit: int = 100, after: int = 0,
) -> list[dict[str, Any]]:
    e, a, s = t.events.c, t.actions.c, t.stories.c
    """Events with their views (``payload``: what the action received plus its own ``output``)."""
    query = (
        sa.select(e.id, s.name.label("story"), a.name.label("action"), a.key.label("action_key"), e.story_run,
                  e.created_at)
        .join(t.actions, a.id == e.action_id)
        .join(t.stories, s.id == e.story_id)
    )
    query = _story_filter(query, story)
    if action:
        query = query.where(sa.or_(a.name == action, a.key == action))
    if run:
        query = query.where(e.story_run.startswith(run))
    if after:
        query = query.where(e.id > after)
    rows = conn.execute(query.order_by(e.id.desc()).limit(limit)).mappings().all()
    found = views(conn, (row["id"] for row in rows))
    result = []
    for row in reversed(rows):
        payload = found.get(row["id"]) or {}
        result.append(
            {"id": row["id"], "story": row["story"], "action": row["action"], "story_run": row["story_run"],
             "created_at": iso(row["created_at"]), "payload": payload, "output": payload.get(row["action_key"])}
        )
    return result


def list_runs(
    conn: Connection, *, story: str | None = None, limit: int = 50, now: float | None = None,
) -> list[dict[str, Any]]:
    """Story runs, newest last. A run whose only work left is due later (a prompt's timeout, a delay,
    an implode's deadline) is ``waiting``, on ``waiting_on``: that action and when it is due."""
    r, s, e, j = t.story_runs.c, t.stories.c, t.events.c, t.jobs.c
    at = time.time() if now is None else now
    unfinished = j.status.in_(("queued", "running"))
    events = sa.select(sa.func.count()).where(e.story_run == r.guid).scalar_subquery()
    pending = sa.select(sa.func.count()).where(j.story_run == r.guid, unfinished).scalar_subquery()
    due = sa.select(sa.func.count()).where(
        j.story_run == r.guid, sa.or_(j.status == "running", sa.and_(j.status == "queued", j.run_after <= at)),
    ).scalar_subquery()
    failed = sa.select(sa.func.count()).where(j.story_run == r.guid, j.status == "failed").scalar_subquery()
    last = sa.select(sa.func.max(e.created_at)).where(e.story_run == r.guid).scalar_subquery()
    query = sa.select(
        r.guid, s.name.label("story"), r.created_at, events.label("events"), pending.label("pending"),
        due.label("due"), failed.label("failed"), last.label("last_event_at"),
    ).join(t.stories, s.id == r.story_id)
    query = _story_filter(query, story)
    rows = conn.execute(query.order_by(r.id.desc()).limit(limit)).mappings().all()
    result = []
    for row in reversed(rows):
        status = ("running" if row["due"] else "waiting") if row["pending"] else ("failed" if row["failed"] else "done")
        result.append(
            {
                "guid": row["guid"],
                "story": row["story"],
                "started_at": iso(row["created_at"]),
                "last_event_at": iso(row["last_event_at"]),
                "events": row["events"],
                "pending": row["pending"],
                "failed": row["failed"],
                "status": status,
                "waiting_on": _next_wake(conn, row["guid"]) if status == "waiting" else None,
            }
        )
    return result


def _next_wake(conn: Connection, story_run: str) -> dict[str, Any] | None:
    """The action a waiting run waits on, and when it is due."""
    j, a = t.jobs.c, t.actions.c
    row = conn.execute(
        sa.select(a.name, j.run_after).join(t.actions, a.id == j.action_id)
        .where(j.story_run == story_run, j.status == "queued").order_by(j.run_after).limit(1)
    ).first()
    return {"action": row.name, "due_at": iso(row.run_after)} if row else None


def list_logs(
    conn: Connection, *, story: str | None = None, level: str | None = None, run: str | None = None,
    limit: int = 100, after: int = 0,
) -> list[dict[str, Any]]:
    lg, a, s = t.logs.c, t.actions.c, t.stories.c
    query = (
        sa.select(lg.id, lg.level, lg.message, lg.created_at, lg.story_run, a.name.label("action"),
                  s.name.label("story"))
        .join(t.actions, a.id == lg.action_id)
        .join(t.stories, s.id == a.story_id)
    )
    query = _story_filter(query, story)
    if level:
        query = query.where(lg.level == level)
    if run:
        query = query.where(lg.story_run.startswith(run))
    if after:
        query = query.where(lg.id > after)
    rows = conn.execute(query.order_by(lg.id.desc()).limit(limit)).mappings().all()
    return [{**row, "created_at": iso(row["created_at"])} for row in reversed(rows)]


def pending_jobs(conn: Connection, story_run: str) -> int:
    j = t.jobs.c
    return conn.execute(
        sa.select(sa.func.count()).where(j.story_run == story_run, j.status.in_(("queued", "running")))
    ).scalar_one()


def action_names(conn: Connection) -> set[str]:
    """Every stored action's name and key: what ``--action`` may name."""
    a = t.actions.c
    return {value for row in conn.execute(sa.select(a.name, a.key)) for value in row if value}


def story_working_since(conn: Connection, story: str, since: float, due_by: float) -> int:
    """Jobs of the story's runs started since ``since`` that run now or are due by ``due_by``.

    A chat console's "is the bot done?": a job waiting on a timer further off (an implode's
    deadline, an escalation after 15 minutes) is the story waiting, not working on an answer."""
    j, r, s = t.jobs.c, t.story_runs.c, t.stories.c
    return conn.execute(
        sa.select(sa.func.count()).select_from(t.jobs.join(t.story_runs, r.guid == j.story_run)
                                               .join(t.stories, s.id == r.story_id))
        .where(s.name == story, r.created_at >= since,
               sa.or_(j.status == "running", sa.and_(j.status == "queued", j.run_after <= due_by)))
    ).scalar_one()


def run_outcome(conn: Connection, story_run: str) -> dict[str, Any] | None:
    """A story run with no job left to do: its story, event count and failed jobs' errors; None while it works."""
    j, r, s, e, a = t.jobs.c, t.story_runs.c, t.stories.c, t.events.c, t.actions.c
    if pending_jobs(conn, story_run):
        return None
    story = conn.execute(sa.select(s.name).join(t.story_runs, r.story_id == s.id).where(r.guid == story_run)
                         ).scalar_one_or_none()
    events = conn.execute(sa.select(sa.func.count()).where(e.story_run == story_run)).scalar_one()
    failed = conn.execute(sa.select(a.name, j.error).join(t.actions, a.id == j.action_id)
                          .where(j.story_run == story_run, j.status == "failed").order_by(j.id)).all()
    return {"story": story, "events": events, "failed": [(row.name, row.error or "") for row in failed]}

"""Read-side queries for the CLI and the API: events, runs, logs.

Each list is newest first and keyset-paged (``before_id``: everything with a smaller id), on an
index that serves its filter (migration 0006), so page 10,000 of millions of events costs what
page 1 does. The CLI prints them oldest first (``list_*``); the API pages them as they come.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.events import views

LOG_LEVELS = ("info", "warning", "error")
"""The levels the engine writes action logs at (engine/queue.py)."""


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_Query = TypeVar("_Query", bound=sa.Select)  # any columns: the filter keeps them


def _story_filter(query: _Query, story: str | None) -> _Query:
    if story:
        query = query.where(sa.or_(t.stories.c.name == story, t.stories.c.guid == story))
    return query


def _where(query: _Query, *conditions: Any) -> _Query:
    """``query`` with each condition that is not None."""
    for condition in conditions:
        if condition is not None:
            query = query.where(condition)
    return query


def _is(column: Any, value: Any) -> Any:
    return None if value is None else column == value


def _run_jobs(story_run: Any, condition: Any) -> Any:
    """The jobs of ``story_run`` that meet ``condition`` (on their status), as a filter that only
    ``ix_jobs_story_run`` can serve.

    A run has a few jobs; the jobs kept with one status are many (every failed job of the last
    weeks, every queued one under load). SQLite has no statistics (storyline never runs ANALYZE),
    and given ``story_run = ? AND status = ?`` it walks ``ix_jobs_due (status, run_after)``: with
    4,000 failed jobs kept, 17 ms a run instead of 0.01, and /runs counts the failures of 50 runs.
    The condition inside a CASE is one no index answers, so the run's own index is the only way in.
    """
    return sa.and_(t.jobs.c.story_run == story_run, sa.case((condition, True), else_=False))


def event_rows(
    conn: Connection, *, event_id: int | None = None, story: str | None = None, story_id: int | None = None,
    action: str | None = None, action_id: int | None = None, run: str | None = None, story_run: str | None = None,
    since: float | None = None, since_id: int | None = None, before_id: int | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Events newest first, each with its view (``payload``: what it carries downstream, upstream keys included).

    ``story``/``action`` match a name (or guid, or key) and ``run`` the start of a run's guid, for
    people at the CLI; the ``*_id`` and ``story_run`` filters match exactly, for scripts.
    """
    e, a, s = t.events.c, t.actions.c, t.stories.c
    query = (
        sa.select(e.id, e.story_id, e.action_id, s.name.label("story"), a.name.label("action"),
                  a.key.label("action_key"), e.story_run, e.parent_id, e.created_at)
        .join(t.actions, a.id == e.action_id)
        .join(t.stories, s.id == e.story_id)
    )
    query = _where(
        _story_filter(query, story), _is(e.id, event_id),
        _is(e.story_id, story_id), _is(e.action_id, action_id), _is(e.story_run, story_run),
        None if action is None else sa.or_(a.name == action, a.key == action),
        None if not run else e.story_run.startswith(run),
        None if since is None else e.created_at > since,
        None if since_id is None else e.id > since_id,
        None if before_id is None else e.id < before_id,
    )
    rows = conn.execute(query.order_by(e.id.desc()).limit(limit)).mappings().all()
    found = views(conn, (row["id"] for row in rows))
    result = []
    for row in rows:
        payload = found.get(row["id"]) or {}
        result.append({**row, "payload": payload, "output": payload.get(row["action_key"])})
    return result


def list_events(
    conn: Connection, *, story: str | None = None, action: str | None = None, run: str | None = None,
    limit: int = 100, after: int = 0,
) -> list[dict[str, Any]]:
    """The newest ``limit`` events (of those with an id above ``after``), oldest first, as the CLI
    prints them (``output``: the action's own)."""
    return [
        {"id": row["id"], "story": row["story"], "action": row["action"], "story_run": row["story_run"],
         "created_at": iso(row["created_at"]), "payload": row["payload"], "output": row["output"]}
        for row in reversed(event_rows(conn, story=story, action=action, run=run, since_id=after or None,
                                       limit=limit))
    ]


def run_rows(
    conn: Connection, *, story: str | None = None, story_id: int | None = None, guid: str | None = None,
    before_id: int | None = None, after_id: int | None = None, ids: list[int] | None = None, limit: int = 50,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Story runs newest first, each with its counts and status.

    ``running`` while a job runs or is due; ``waiting`` when the only work left is due later (a
    prompt's timeout, a delay, an implode's deadline), on ``waiting_on``: that action and when it
    is due; ``held`` when the only work left is held by a disabled story; then ``failed`` if a
    job failed for good, else ``done``.
    """
    r, s, e, j = t.story_runs.c, t.stories.c, t.events.c, t.jobs.c
    at = time.time() if now is None else now
    events = sa.select(sa.func.count()).where(e.story_run == r.guid).scalar_subquery()
    actions = sa.select(sa.func.count(sa.distinct(e.action_id))).where(e.story_run == r.guid).scalar_subquery()
    pending = (
        sa.select(sa.func.count()).where(_run_jobs(r.guid, j.status.in_(t.PENDING_JOBS))).scalar_subquery()
    )
    due = sa.select(sa.func.count()).where(_run_jobs(
        r.guid, sa.or_(j.status == "running", sa.and_(j.status == "queued", j.run_after <= at))),
    ).scalar_subquery()
    failed = sa.select(sa.func.count()).where(_run_jobs(r.guid, j.status == "failed")).scalar_subquery()
    last = sa.select(sa.func.max(e.created_at)).where(e.story_run == r.guid).scalar_subquery()
    query = sa.select(
        r.id, r.guid, r.story_id, s.name.label("story"), r.created_at, events.label("events"),
        actions.label("actions"), pending.label("pending"), due.label("due"), failed.label("failed"),
        last.label("last_event_at"),
    ).join(t.stories, s.id == r.story_id)
    query = _where(_story_filter(query, story), _is(r.story_id, story_id), _is(r.guid, guid),
                   None if before_id is None else r.id < before_id, None if after_id is None else r.id > after_id,
                   None if ids is None else r.id.in_(ids))
    rows = conn.execute(query.order_by(r.id.desc()).limit(limit)).mappings().all()
    result = []
    for row in rows:
        waiting_on = _next_wake(conn, row["guid"]) if row["pending"] and not row["due"] else None
        if row["due"]:
            status = "running"
        elif row["pending"]:
            status = "waiting" if waiting_on else "held"
        else:
            status = "failed" if row["failed"] else "done"
        result.append({**row, "status": status, "waiting_on": waiting_on})
    return result


def _next_wake(conn: Connection, story_run: str) -> dict[str, Any] | None:
    """The action a waiting run waits on, and when it is due; None when only held jobs are left."""
    j, a = t.jobs.c, t.actions.c
    row = conn.execute(
        sa.select(a.name, j.run_after).join(t.actions, a.id == j.action_id)
        .where(_run_jobs(story_run, j.status == "queued")).order_by(j.run_after).limit(1)
    ).first()
    return {"action": row.name, "due_at": iso(row.run_after)} if row else None


def list_runs(
    conn: Connection, *, story: str | None = None, limit: int = 50, now: float | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, oldest first, as the CLI prints them."""
    return [
        {"guid": row["guid"], "story": row["story"], "started_at": iso(row["created_at"]),
         "last_event_at": iso(row["last_event_at"]), "events": row["events"], "pending": row["pending"],
         "failed": row["failed"], "status": row["status"], "waiting_on": row["waiting_on"]}
        for row in reversed(run_rows(conn, story=story, limit=limit, now=now))
    ]


def run_events(conn: Connection, story_run: str, limit: int, *, after_id: int | None = None,
               payloads: bool = False) -> list[dict[str, Any]]:
    """The first ``limit`` events of a run (after ``after_id``) in the order they were written; with
    ``payloads``, each event's own ``payload`` (``{action key: output}``, not the upstream view) and ``action_key``."""
    e, a = t.events.c, t.actions.c
    columns = [e.id, e.action_id, a.name.label("action"), e.parent_id, e.created_at]
    if payloads:
        columns += [a.key.label("action_key"), e.payload]
    query = (
        sa.select(*columns)
        .join(t.actions, a.id == e.action_id)
        .where(e.story_run == story_run)
        .order_by(e.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(e.id > after_id)
    return [dict(row) for row in conn.execute(query).mappings()]


def newest_run_id(conn: Connection) -> int:
    """The id of the newest story run (0 when there is none): one index lookup, for a live list to poll."""
    return int(conn.execute(sa.select(sa.func.max(t.story_runs.c.id))).scalar() or 0)


def failed_jobs(conn: Connection, story_run: str) -> list[dict[str, Any]]:
    """A run's jobs that failed for good, with the (redacted) error and how many attempts they had."""
    j, a = t.jobs.c, t.actions.c
    query = (
        sa.select(j.id, j.action_id, a.name.label("action"), j.event_id, j.error, j.attempts, j.finished_at)
        .join(t.actions, a.id == j.action_id)
        .where(_run_jobs(story_run, j.status == "failed"))
        .order_by(j.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def log_rows(
    conn: Connection, *, story: str | None = None, story_id: int | None = None, level: str | None = None,
    run: str | None = None, story_run: str | None = None, since_id: int | None = None, before_id: int | None = None,
    limit: int = 100, action_id: int | None = None,
) -> list[dict[str, Any]]:
    """Action logs newest first (retries, failures with their errors, what actions logged)."""
    lg, a, s = t.logs.c, t.actions.c, t.stories.c
    query = (
        sa.select(lg.id, lg.level, lg.message, lg.created_at, lg.story_run, lg.action_id, a.story_id,
                  a.name.label("action"), s.name.label("story"))
        .join(t.actions, a.id == lg.action_id)
        .join(t.stories, s.id == a.story_id)
    )
    query = _where(
        _story_filter(query, story), _is(a.story_id, story_id), _is(lg.action_id, action_id),
        _is(lg.level, level or None),
        _is(lg.story_run, story_run), None if not run else lg.story_run.startswith(run),
        None if since_id is None else lg.id > since_id, None if before_id is None else lg.id < before_id,
    )
    return [dict(row) for row in conn.execute(query.order_by(lg.id.desc()).limit(limit)).mappings()]


def list_logs(
    conn: Connection, *, story: str | None = None, level: str | None = None, run: str | None = None,
    limit: int = 100, after: int = 0,
) -> list[dict[str, Any]]:
    """The newest ``limit`` log lines (of those with an id above ``after``), oldest first, as the CLI prints them."""
    return [
        {"id": row["id"], "level": row["level"], "message": row["message"], "created_at": iso(row["created_at"]),
         "story_run": row["story_run"], "action": row["action"], "story": row["story"]}
        for row in reversed(log_rows(conn, story=story, level=level, run=run, since_id=after or None, limit=limit))
    ]


def pending_jobs(conn: Connection, story_run: str) -> int:
    j = t.jobs.c
    return conn.execute(
        sa.select(sa.func.count()).where(_run_jobs(story_run, j.status.in_(t.PENDING_JOBS)))
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


def run_outcomes(conn: Connection, story_runs: list[str]) -> dict[str, dict[str, Any]]:
    """Of ``story_runs``, those with no job left to do, each with :func:`run_outcome`'s answer.

    One grouped count finds the runs still working, so the worker asks once for every run a job
    finished in, not once per job.
    """
    j = t.jobs.c
    working: set[str] = set()
    for start in range(0, len(story_runs), 500):
        chunk = story_runs[start:start + 500]
        working.update(conn.execute(sa.select(j.story_run).where(
            j.story_run.in_(chunk), j.status.in_(t.PENDING_JOBS)).group_by(j.story_run)).scalars())
    outcomes = {}
    for story_run in story_runs:
        if story_run not in working:
            outcome = run_outcome(conn, story_run, checked=True)
            if outcome is not None:
                outcomes[story_run] = outcome
    return outcomes


def run_outcome(conn: Connection, story_run: str, *, checked: bool = False) -> dict[str, Any] | None:
    """A story run with no job left to do: its story, event count and failed jobs' errors; None while it works."""
    j, r, s, e, a = t.jobs.c, t.story_runs.c, t.stories.c, t.events.c, t.actions.c
    if not checked and pending_jobs(conn, story_run):
        return None
    story = conn.execute(sa.select(s.name).join(t.story_runs, r.story_id == s.id).where(r.guid == story_run)
                         ).scalar_one_or_none()
    events = conn.execute(sa.select(sa.func.count()).where(e.story_run == story_run)).scalar_one()
    failed = conn.execute(sa.select(a.name, j.error).join(t.actions, a.id == j.action_id)
                          .where(_run_jobs(story_run, j.status == "failed")).order_by(j.id)).all()
    return {"story": story, "events": events, "failed": [(row.name, row.error or "") for row in failed]}

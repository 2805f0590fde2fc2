"""Retention: what a story keeps (``keep_events_for``) and for how long, enforced once a minute.

Events and logs older than their story keeps (or their action, when it has its own
``keep_events_for``, as in schema 1 exports) are dropped, story runs when their last-kept action's
time is over and no job of theirs is waiting, with their jobs, and
webhook delivery keys older than any sender retries, audit entries older than
``STORYLINE_AUDIT_KEEP_DAYS``, expired browser sessions and failed logins that no longer count. It runs beside the worker in every
``serve`` and ``worker`` process; every pass is one write transaction of bounded size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.accounts import audit, logins
from storyline.config import Settings
from storyline.credentials.stored import record_uses
from storyline.engine import deliveries
from storyline.engine.database import Database
from storyline.store import accounts
from storyline.store import tables as t
from storyline.store.stories import KEEP_EVENTS_FOR

log = logging.getLogger(__name__)


def purge(conn: Connection, now: float, *, audit_keep_days: float = Settings.audit_keep_days) -> int:
    """Retention: drop expired events and runs, finished jobs and logs older than their story keeps,
    webhook delivery keys older than any sender retries, old audit entries, expired sessions and
    failed logins past the throttle's window."""
    removed = _purge_events(conn, now)
    removed += _purge_runs_and_jobs(conn, now)
    removed += conn.execute(t.logs.delete().where(t.logs.c.created_at + _kept_for(t.logs.c.action_id) < now)).rowcount
    removed += deliveries.purge(conn, now)
    removed += audit.purge(conn, now, audit_keep_days)
    removed += accounts.purge_sessions(conn, now)
    removed += logins.purge(conn, now)
    return removed


FINISHED = ("done", "failed")


def _purge_runs_and_jobs(conn: Connection, now: float) -> int:
    """Drop expired story runs with their jobs, found through the runs' ``expires_at`` index.

    Why not each finished job by its own age: that reads every finished job kept, once a minute, in the
    write transaction webhooks wait on (1.3-1.9 s with 900k jobs on SQLite, bench/console.py). A job is
    the run's bookkeeping (status, attempts, error), so it lives as long as its run, whose expiry is its
    longest-kept action's; an action's own shorter ``keep_events_for`` (schema 1) drops its events sooner,
    not its jobs. A run still waiting on a job stays until the job finishes, so no job outlives its run.
    """
    j, r = t.jobs, t.story_runs
    waiting = sa.exists().where(j.c.story_run == r.c.guid, j.c.status.not_in(FINISHED))
    expired = sa.select(r.c.guid).where(r.c.expires_at < now, ~waiting)
    removed = conn.execute(j.delete().where(j.c.story_run.in_(expired))).rowcount
    return removed + conn.execute(r.delete().where(r.c.guid.in_(expired))).rowcount


def _kept_for(action_id: sa.ColumnElement[int]) -> sa.ScalarSelect[float]:
    """Seconds the action keeps what it did: its own ``keep_events_for`` (schema 1 exports, in
    ``actions.extra``; 0 is the story's), else its story's (``Catalog.kept_for``, in SQL)."""
    a, s = t.actions.c, t.stories.c
    own = sa.func.nullif(a.extra[KEEP_EVENTS_FOR].as_float(), 0)
    return (
        sa.select(sa.func.coalesce(own, s.keep_events_for))
        .join(t.actions, a.story_id == s.id)
        .where(a.id == action_id)
        .scalar_subquery()
    )


#: Passes of one purge over expired events (see ``_purge_events``); the rest waits for the next purge.
PURGE_PASSES = 32


def _purge_events(conn: Connection, now: float) -> int:
    """Drop expired events, each only once no event names it as parent.

    An event's view is assembled from its ancestors (store/events.py), which were
    written earlier and so expire earlier: a parent stays while a child is kept.
    Each pass removes the expired events nothing names, so a chain goes leaves first.
    """
    e, child = t.events, t.events.alias("child")
    orphan = (
        e.delete()
        .where(e.c.expires_at < now)
        .where(~sa.exists().where(child.c.parent_id == e.c.id))
    )
    removed = 0
    for _ in range(PURGE_PASSES):
        count = conn.execute(orphan).rowcount
        removed += count
        if not count:
            break
    return removed


async def housekeeping(db: Database, stop: asyncio.Event, interval: float = 60.0, *,
                       audit_keep_days: float = Settings.audit_keep_days,
                       credential_uses: Callable[[], dict[str, float]] | None = None) -> Any:
    """Retention: purge what is no longer kept (see ``purge``), once a minute; and store when
    credentials were last used (``credential_uses``: the vault's ``take_uses``), also on the way out."""
    while not stop.is_set():
        try:
            await db.write(purge, time.time(), audit_keep_days=audit_keep_days)
        except Exception:
            log.exception("retention purge failed")
        await _record_uses(db, credential_uses)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    await _record_uses(db, credential_uses)


async def _record_uses(db: Database, credential_uses: Callable[[], dict[str, float]] | None) -> None:
    used = credential_uses() if credential_uses is not None else {}
    if used:
        try:
            await db.write(record_uses, used)
        except Exception:
            log.exception("recording when credentials were last used failed")

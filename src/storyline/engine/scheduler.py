"""The scheduler: a new story run for each scheduled action when its cron ticks.

A tick starts a story run whose first job is the action itself with an empty event
``{}``, as in Tines. Exactly one scheduler ticks at a time: on PostgreSQL every
process runs one, and only the holder of an advisory lock (on a connection of its
own, scoped to the database and schema) works; when that process dies its
connection, and so the lock, goes with it and another takes over within a pass.
SQLite is a single node. Each tick is also a compare-and-set on
``schedule_ticks.last_run``, so a tick cannot start twice even if two schedulers
ever overlapped.

``last_run`` is when the action last ticked, or when its schedule was first seen;
the next tick is always computed from it with the current schedule, so an edited
schedule takes effect at once, and the ticks missed while no scheduler ran
collapse into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storyline.actions import action_type
from storyline.engine import queue
from storyline.engine.catalog import Catalog, CatalogCache
from storyline.engine.database import Database
from storyline.store import tables as t
from storyline.tines import schedules

log = logging.getLogger(__name__)

_LOCK = "hashtext('storyline-scheduler'), hashtext(current_database() || '.' || current_schema())"


@dataclass
class Plan:
    """What one pass changes in ``schedule_ticks``; everything is keyed by action id."""

    forget: list[int] = field(default_factory=list)
    add: dict[int, float] = field(default_factory=dict)  # next tick
    fire: dict[int, tuple[float, float]] = field(default_factory=dict)  # (last_run seen, next tick)
    move: dict[int, float] = field(default_factory=dict)  # corrected next tick

    def __bool__(self) -> bool:
        return bool(self.forget or self.add or self.fire or self.move)


def scheduled(catalog: Catalog, warned: set[int] | None = None) -> dict[int, list[schedules.Cron]]:
    """The actions that tick, with their crons: enabled in an enabled story, runnable, schedulable, with a schedule.

    An action of a disabled story is not scheduled, so its tick row is forgotten: enabling the
    story again starts its schedule afresh rather than firing the ticks missed meanwhile.
    """
    out: dict[int, list[schedules.Cron]] = {}
    for action in catalog.actions.values():
        if action.disabled or catalog.story(action.story_id).disabled or action.type not in schedules.SCHEDULABLE_TYPES or action_type(action.type) is None:
            continue
        try:
            crons = schedules.parse(action.schedule)
        except schedules.ScheduleError as exc:
            if warned is not None and action.id not in warned:
                warned.add(action.id)
                log.warning("action %r in story %r is not scheduled: %s", action.name, action.story_name, exc)
            continue
        if crons:
            out[action.id] = crons
    return out


def plan(wanted: dict[int, list[schedules.Cron]], rows: dict[int, tuple[float, float]], now: float) -> Plan:
    result = Plan(forget=[action_id for action_id in rows if action_id not in wanted])
    for action_id, crons in wanted.items():
        if action_id not in rows:
            result.add[action_id] = _next(crons, now)
            continue
        last_run, next_run = rows[action_id]
        due = _next(crons, last_run)
        if due <= now:
            result.fire[action_id] = (last_run, _next(crons, now))
        elif due != next_run:
            result.move[action_id] = due
    return result


def _next(crons: list[schedules.Cron], after: float) -> float:
    tick = schedules.next_tick(crons, after)
    assert tick is not None  # only actions with crons are planned
    return tick


def read_ticks(conn: Connection) -> dict[int, tuple[float, float]]:
    c = t.schedule_ticks.c
    return {row.action_id: (row.last_run, row.next_run)
            for row in conn.execute(sa.select(c.action_id, c.last_run, c.next_run))}


def apply(conn: Connection, catalog: Catalog, todo: Plan, now: float) -> list[str]:
    """Write the plan; returns the story runs started. A tick another scheduler took is skipped."""
    table, c = t.schedule_ticks, t.schedule_ticks.c
    if todo.forget:
        conn.execute(table.delete().where(c.action_id.in_(todo.forget)))
    if todo.add:
        conn.execute(table.insert(), [
            {"action_id": action_id, "last_run": now, "next_run": next_run} for action_id, next_run in todo.add.items()
        ])
    for action_id, next_run in todo.move.items():
        conn.execute(table.update().where(c.action_id == action_id).values(next_run=next_run))
    runs = []
    for action_id, (seen, next_run) in todo.fire.items():
        taken = conn.execute(
            table.update().where(c.action_id == action_id, c.last_run == seen).values(last_run=now, next_run=next_run)
        ).rowcount
        if taken == 1:
            runs.append(queue.start_run(conn, catalog, catalog.actions[action_id], now))
    return runs


class AdvisoryLock:
    """The scheduler's PostgreSQL session lock, on a connection kept for as long as it is held."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: sa.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def hold(self) -> bool:
        """Whether this process holds the lock now (checking the connection, or trying to take it)."""
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except sa.exc.DBAPIError:
                log.warning("scheduler lost its database connection; letting another process take over")
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_LOCK})").scalar():
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK})")
            self._conn.close()
            self._conn = None


class Scheduler:
    def __init__(
        self, db: Database, catalogs: CatalogCache, *, wake: Callable[[], None] | None = None,
        interval: float = 1.0, clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.catalogs = catalogs
        self.wake = wake
        self.interval = interval
        self.clock = clock
        self.lock = None if db.sqlite else AdvisoryLock(db.engine)
        self._warned: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    if self.lock is None or await asyncio.to_thread(self.lock.hold):
                        await self.tick()
                except Exception:
                    log.exception("scheduler pass failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
        finally:
            if self.lock is not None:
                await asyncio.to_thread(self.lock.release)

    async def tick(self) -> list[str]:
        """One pass: start the runs that are due; returns their story run guids."""
        now = self.clock()
        catalog = await self.catalogs.get()
        todo = plan(scheduled(catalog, self._warned), await self.db.read(read_ticks), now)
        if not todo:
            return []
        runs = await self.db.write(apply, catalog, todo, now)
        if runs and self.wake is not None:
            self.wake()
        return runs

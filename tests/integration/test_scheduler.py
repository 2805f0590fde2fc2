"""The scheduler on SQLite and PostgreSQL: each tick once, missed ticks collapse, one scheduler at a time.

The scheduler reads a clock the tests turn by hand; it is kept in the past, because
the jobs a tick enqueues become due at the tick's time and the worker runs on real time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from storyline.engine.catalog import CatalogCache
from storyline.engine.database import Database
from storyline.engine.scheduler import Scheduler
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.tines.schedules import Cron
from tests.builders import TRANSFORM, agent, story
from tests.harness import Harness
from tests.integration.test_send_to_story import SEND, sub_story
from tests.support import eventually

EVERY_MINUTE = [{"cron": "* * * * *", "timezone": "Europe/Dublin"}]


class Clock:
    """Time turned by hand; ``reads`` counts the scheduler's passes (each reads the clock once)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() - 6 * 3600 if now is None else now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def heartbeat_story(schedule: Any = EVERY_MINUTE) -> dict[str, Any]:
    beat = agent(TRANSFORM, "Heartbeat", mode="message_only", payload={"alive": True, "run": "{% story_run_guid %}"})
    beat["schedule"] = schedule
    return story("Heartbeat", [beat], [])


def runs(h: Harness) -> list[str]:
    with h.engine.connect() as conn:
        return list(conn.execute(sa.select(t.story_runs.c.guid).order_by(t.story_runs.c.id)).scalars())


async def test_a_tick_starts_one_story_run_with_an_empty_event(database_url: str) -> None:
    clock = Clock()
    async with Harness(database_url, scheduler=False) as h:
        await h.load(heartbeat_story([{"cron": "*/5 * * * *", "timezone": "America/Chicago"}]))
        scheduler = Scheduler(h.service.db, h.service.catalogs, wake=h.service.wake, clock=clock)
        assert await scheduler.tick() == []  # first seen: ticks count from now
        due = Cron("*/5 * * * *", "America/Chicago").next_after(clock.now)
        clock.now = due - 1
        assert await scheduler.tick() == []
        clock.now = due
        [run] = await scheduler.tick()
        assert await scheduler.tick() == []  # the same tick never starts twice
        await h.drain()
        [event] = h.events(run=run)
        assert event["action"] == "Heartbeat"
        assert event["payload"] == {"heartbeat": {"alive": True, "run": run}}


async def test_ticks_missed_while_down_run_once_not_n_times(database_url: str) -> None:
    clock = Clock()
    async with Harness(database_url, scheduler=False) as h:
        await h.load(heartbeat_story())
        scheduler = Scheduler(h.service.db, h.service.catalogs, clock=clock)
        await scheduler.tick()
        clock.now += 45 * 60  # 45 missed minutes
        assert len(await scheduler.tick()) == 1
        assert await scheduler.tick() == []
        clock.now += 60
        assert len(await scheduler.tick()) == 1
        await h.drain()
        assert len(h.events(action="Heartbeat")) == 2


async def test_unscheduling_or_disabling_an_action_stops_its_ticks(database_url: str) -> None:
    clock = Clock()
    async with Harness(database_url, scheduler=False) as h:
        data = heartbeat_story()
        await h.load(data)
        scheduler = Scheduler(h.service.db, h.service.catalogs, clock=clock)
        await scheduler.tick()
        data["agents"][0]["disabled"] = True
        await _reimport(h, data)
        clock.now += 600
        assert await scheduler.tick() == []
        with h.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(t.schedule_ticks)).scalar() == 0


async def _reimport(h: Harness, data: dict[str, Any]) -> None:
    from storyline.store.stories import save_story
    from storyline.tines.importer import parse_story

    definition, _ = parse_story(data)
    await h.service.db.write(lambda conn: save_story(conn, definition, replace=True, now=time.time()))
    await h.service.db.read(lambda conn: h.service.catalogs.refresh(conn, force=True))


async def test_a_scheduled_send_to_story_emits_the_sub_story_exit(database_url: str) -> None:
    clock = Clock()
    send = agent(SEND, "Nightly VIP check", story="{% story Check VIP %}", payload={"email": "ceo@example.com"})
    send["schedule"] = EVERY_MINUTE
    async with Harness(database_url, scheduler=False) as h:
        await h.load(sub_story())
        await h.load(story("Nightly", [send], []))
        scheduler = Scheduler(h.service.db, h.service.catalogs, clock=clock)
        await scheduler.tick()
        clock.now += 60
        [run] = await scheduler.tick()
        await h.drain()
        [event] = h.events(run=run)
        assert event["payload"] == {"nightly_vip_check": {"vip": "yes", "email": "ceo@example.com",
                                                          "caller_event": ""}}


async def test_two_schedulers_on_postgresql_one_ticks_and_the_other_takes_over(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite is a single node: one process, one scheduler")
    first = Clock()
    clocks = [first, Clock(first.now)]  # one per node, turned together

    def turn(seconds: float) -> None:
        for clock in clocks:
            clock.now += seconds

    async def passes(clock: Clock, count: int) -> None:
        seen = clock.reads
        await eventually(lambda: clock.reads >= seen + count)

    async with Harness(database_url, worker=False) as h:
        await h.load(heartbeat_story())
        nodes = [_node(database_url, clock) for clock in clocks]
        stops = [asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.create_task(s.run(stop)) for (_db, s), stop in zip(nodes, stops, strict=True)]
        try:
            await eventually(lambda: any(s.lock.held for _db, s in nodes))
            assert [s.lock.held for _db, s in nodes].count(True) == 1
            holder = next(i for i, (_db, s) in enumerate(nodes) if s.lock.held)
            turn(10 * 60)
            await eventually(lambda: len(runs(h)) >= 1)
            await passes(clocks[holder], 3)
            assert len(runs(h)) == 1
            assert clocks[1 - holder].reads == 0  # the other node never ticked

            stops[holder].set()
            await tasks[holder]
            other = nodes[1 - holder][1]
            await eventually(lambda: other.lock.held)
            turn(60)
            await eventually(lambda: len(runs(h)) >= 2)
            await passes(clocks[1 - holder], 3)
            assert len(runs(h)) == 2
        finally:
            for stop in stops:
                stop.set()
            await asyncio.gather(*tasks)
            for db, _s in nodes:
                db.stop()
                db.engine.dispose()


def _node(url: str, clock: Clock) -> tuple[Database, Scheduler]:
    """What another storyline process would run: its own engine, catalog and scheduler."""
    db = Database(make_engine(url))
    db.start()
    return db, Scheduler(db, CatalogCache(db.read), interval=0.02, clock=clock)


async def test_a_running_service_ticks_on_its_own(database_url: str) -> None:
    """``serve`` and ``worker`` run the scheduler next to the worker, on the real clock."""
    async with Harness(database_url) as h:
        await h.load(heartbeat_story([{"cron": "0 0 1 1 *", "timezone": "UTC"}]))  # once a year
        await eventually(lambda: _ticks(h) == 1)
        # Pretend the last tick was years ago (a restart after a long downtime).
        await h.service.db.write(lambda conn: conn.execute(t.schedule_ticks.update().values(last_run=0.0)))
        await eventually(lambda: len(h.events(action="Heartbeat")) == 1)
        # The missed ticks collapsed into that one run: the next is not due before next year.
        [(last_run, next_run)] = _tick_times(h)
        assert last_run > time.time() - 60 and next_run > time.time()
        assert len(h.events(action="Heartbeat")) == 1


def _tick_times(h: Harness) -> list[tuple[float, float]]:
    with h.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(t.schedule_ticks.c.last_run, t.schedule_ticks.c.next_run))]


def _ticks(h: Harness) -> int:
    with h.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.schedule_ticks)).scalar_one()

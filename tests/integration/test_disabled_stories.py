"""A disabled story runs nothing: its schedules do not tick and its queued jobs are held, then run once enabled.

(Its webhooks answer 403 to a caller with the secret: tests/integration/test_api_story_changes.py.)
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from storyline.accounts.roles import Principal, Role
from storyline.engine.scheduler import Scheduler
from storyline.operations import stories
from storyline.store import tables as t
from storyline.store.queries import run_rows
from tests.builders import TRANSFORM, WEBHOOK, agent, story
from tests.harness import Harness
from tests.integration.test_scheduler import Clock, heartbeat_story
from tests.support import eventually

EDITOR = Principal("token", "test", Role.EDITOR)


async def switch(h: Harness, name: str, disabled: bool) -> None:
    story_id = next(s.id for s in h.service.catalogs.current.stories.values() if s.name == name)
    await h.service.db.write(stories.set_disabled, EDITOR, story_id, disabled, now=time.time())
    await h.service.catalogs.get(force=True)
    h.service.wake()


def run_statuses(h: Harness) -> list[tuple[str, object]]:
    with h.engine.connect() as conn:
        return [(run["status"], run["waiting_on"]) for run in run_rows(conn)]


def statuses(h: Harness) -> list[str]:
    with h.engine.connect() as conn:
        return list(conn.execute(sa.select(t.jobs.c.status).order_by(t.jobs.c.id)).scalars())


async def test_a_disabled_storys_schedule_does_not_tick_and_starts_afresh_when_enabled(database_url: str) -> None:
    clock = Clock()
    async with Harness(database_url, scheduler=False, worker=False) as h:
        await h.load(heartbeat_story())
        scheduler = Scheduler(h.service.db, h.service.catalogs, clock=clock)
        await scheduler.tick()
        await switch(h, "Heartbeat", True)
        clock.now += 10 * 60
        assert await scheduler.tick() == []
        await switch(h, "Heartbeat", False)
        assert await scheduler.tick() == []  # the ten minutes it was off are not made up for
        clock.now += 60
        assert len(await scheduler.tick()) == 1


async def test_queued_jobs_of_a_disabled_story_are_held_unrun_and_run_once_it_is_enabled(database_url: str) -> None:
    data = story("Held", [agent(WEBHOOK, "Receive", path="held"),
                          agent(TRANSFORM, "Shape", mode="message_only", payload={"n": "{{.receive.n}}"})],
                 [(0, 1)])
    async with Harness(database_url, scheduler=False) as h:
        await h.load(data)
        await switch(h, "Held", True)
        await h.ingest("Receive", {"n": 7})
        await eventually(lambda: statuses(h) == ["held"], 10, lambda: f"jobs: {h.jobs()}")
        assert [e["action"] for e in h.events()] == ["Receive"]
        assert h.jobs()[0]["attempts"] == 0  # holding is not a failed attempt
        assert run_statuses(h) == [("held", None)]  # neither running nor waiting on a timer
        await switch(h, "Held", False)
        await eventually(lambda: statuses(h) == ["done"], 10, lambda: f"jobs: {h.jobs()}")
        assert run_statuses(h) == [("done", None)]
        assert [e["payload"]["shape"] for e in h.events(action="Shape")] == [{"n": "7"}]

"""An in-process storyline (database, worker, egress) for integration tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa

from storyline.config import Settings
from storyline.engine import intake, queue
from storyline.engine.service import Service
from storyline.store import tables as t
from storyline.store.db import make_engine, upgrade
from storyline.store.queries import list_events
from storyline.store.stories import save_story
from storyline.tines.importer import parse_story
from tests.support import eventually


def load_stories(database_url: str, *stories: dict[str, Any]) -> None:
    """Create the schema and import stories, before an app or process starts on the database."""
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        for data in stories:
            save_story(conn, parse_story(data)[0], now=time.time())
    engine.dispose()


class Harness:
    def __init__(self, database_url: str, *, worker: bool = True, **settings: Any) -> None:
        defaults = {"lease_seconds": 5.0, "retry_base_seconds": 0.01, "sqlite_synchronous": "NORMAL"}
        self.settings = replace(Settings(database_url=database_url), **{**defaults, **settings})
        self.service = Service(self.settings, worker=worker)

    async def __aenter__(self) -> Harness:
        await self.service.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop()

    @property
    def engine(self) -> sa.Engine:
        return self.service.engine

    async def load(self, data: dict[str, Any]) -> None:
        story, _warnings = parse_story(data)
        await self.service.db.write(lambda conn: save_story(conn, story, now=time.time()))
        await self.service.db.read(lambda conn: self.service.catalogs.refresh(conn, force=True))

    def action(self, name: str) -> Any:
        return next(a for a in self.service.catalogs.current.actions.values() if name in (a.name, a.key))

    async def ingest(self, webhook: str, body: Any) -> queue.Ingested:
        action = self.action(webhook)
        ingested = await self.service.db.write(
            queue.ingest, self.service.catalogs.current, action, body, time.time()
        )
        self.service.wake()
        return ingested

    async def post(self, path: str, secret: str, body: Any) -> intake.Reply:
        """What ``POST /webhook/<path>/<secret>`` with this JSON body gets, through the intake as served."""

        async def chunks() -> AsyncIterator[bytes]:
            yield orjson.dumps(body)

        return await intake.receive(self.service, intake.Delivery(
            path, secret, "POST", {"content-type": "application/json"}, {}, chunks()))

    async def start_run(self, name: str) -> str:
        """What a schedule tick does: a new story run whose first job is this action, on an empty input."""
        action = self.action(name)
        guid = queue.new_run_guid()
        now = time.time()

        def write(conn: sa.Connection) -> None:
            conn.execute(t.story_runs.insert().values(
                guid=guid, story_id=action.story_id, created_at=now, expires_at=now + 86400))
            conn.execute(t.jobs.insert().values(
                action_id=action.id, event_id=None, story_run=guid, status="queued", run_after=now, attempts=0,
                created_at=now))

        await self.service.db.write(write)
        self.service.wake()
        return guid

    async def drain(self, timeout: float = 20.0) -> None:
        """Wait until no job is queued or running."""
        await eventually(lambda: self.service.db.read(_idle), timeout, lambda: f"jobs still pending: {self.jobs()}")

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return list_events(conn, limit=100_000, **filters)

    def jobs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(sa.select(t.jobs).order_by(t.jobs.c.id)).mappings()]


def _idle(conn: sa.Connection) -> bool:
    j = t.jobs.c
    return not conn.execute(sa.select(sa.func.count()).where(j.status.in_(("queued", "running")))).scalar_one()

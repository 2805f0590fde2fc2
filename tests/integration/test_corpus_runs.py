"""Every real Tines export runs: each starting action, fed an empty event, runs to an end.

Not a check of what the stories compute (the articles' stories have end-to-end tests of
their own) but of the promise an import makes: whatever a story does, the engine does
not crash on it. Each action either does its work or fails with an error that names it
(a template that finds nothing, a credential never set, a host that does not resolve),
and nothing is left running. Every outside host a story names is sent, through egress
overrides, to an echoing fake; a host built by a template fails as it would offline.
Runs on SQLite only: the queue's behaviour on both back ends is covered elsewhere, and
this walks 75 stories.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storyline.config import Settings
from storyline.engine import queue
from storyline.engine.service import Service
from storyline.store import tables as t
from storyline.store.db import upgrade
from storyline.store.stories import save_story
from storyline.tines.importer import load_file
from tests.corpus import corpus_files
from tests.fakes.httpbin import FakeHttpbin
from tests.support import eventually

LITERAL_HOST = re.compile(r"https?://([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})(?=[/:\"?\\]|$)")
WAITING = 10.0
"""A job due further ahead than this is waiting on purpose (a delay, a prompt's timeout)."""


@pytest.fixture(scope="module")
def echo() -> Iterator[FakeHttpbin]:
    with FakeHttpbin() as server:
        yield server


def hosts_named_in(path: Path) -> set[str]:
    return {host.lower() for host in LITERAL_HOST.findall(path.read_text())}


async def run_every_start(path: Path, settings: Settings) -> dict[str, Any]:
    definition, _warnings = load_file(path)
    service = Service(settings)
    upgrade(service.engine)
    with service.engine.begin() as conn:
        save_story(conn, definition, now=time.time())
    await service.start()
    try:
        catalog = service.catalogs.current
        receivers = {r for targets in catalog.receivers.values() for r in targets}
        top = min(catalog.stories)  # embedded sub-stories are saved after the story that holds them
        starts = [a for a in catalog.actions.values() if a.story_id == top and a.id not in receivers]
        for action in starts:
            await service.db.write(queue.ingest, catalog, action, {}, time.time())
        service.wake()
        await eventually(lambda: service.db.read(no_jobs_left), 60, f"{path.name}: jobs finished")
        with service.engine.connect() as conn:
            statuses = dict(conn.execute(
                sa.select(t.jobs.c.status, sa.func.count()).group_by(t.jobs.c.status)).all())
            errors = list(conn.execute(sa.select(t.jobs.c.error).where(t.jobs.c.status == "failed")).scalars())
        return {"starts": len(starts), "actions": len(catalog.actions), "statuses": statuses, "errors": errors}
    finally:
        await service.stop()


def no_jobs_left(conn: sa.Connection) -> bool:
    j = t.jobs.c
    soon = time.time() + WAITING
    return not conn.execute(sa.select(sa.func.count()).where(
        (j.status == "running") | ((j.status == "queued") & (j.run_after < soon)))).scalar_one()


@pytest.mark.parametrize("path", corpus_files())
def test_every_starting_action_runs_to_an_end_without_crashing_the_engine(
    path: Path, tmp_path: Path, echo: FakeHttpbin, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/corpus.db", public_url="https://storyline.example",
        egress_overrides={host: f"{echo.url}/anything" for host in hosts_named_in(path)},
        egress_timeout=2.0, max_attempts=1, retry_base_seconds=0.01, sqlite_synchronous="OFF", scheduler=False,
    )
    with caplog.at_level(logging.ERROR, logger="storyline"):
        result = asyncio.run(run_every_start(path, settings))

    assert result["starts"] >= 1, f"{path.name}: no action to start from"
    unexpected = [r.getMessage() for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert not unexpected, f"{path.name}: the engine raised instead of failing an action: {unexpected}"
    assert all(error for error in result["errors"]), "a failed job must say why"

"""Running the articles' real Tines stories, imported unchanged, against the fakes.

``Deployment`` is what a user has after ``storyline story import FILE``, ``storyline
credential set`` / ``resource set`` and ``storyline serve`` with
``STORYLINE_EGRESS_OVERRIDES`` pointing the outside world at fakes: the real app and
its worker, webhooks reached over HTTP (an in-process client), prompt links clicked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.engine import queue
from storyline.engine.catalog import load_catalog
from storyline.store import tables as t
from storyline.store.db import make_engine, upgrade
from storyline.store.queries import list_events
from storyline.store.resources import save_resource
from storyline.store.stories import save_story
from storyline.tines.importer import parse_story
from storyline.web.app import create_app
from tests.corpus import shared_story
from tests.support import eventually

PUBLIC = "https://storyline.example"


def article_story(file: str) -> dict[str, Any]:
    """One of the articles' exports, exactly as published (skips when ../shared is absent)."""
    return json.loads(shared_story(file).read_text())


class Deployment:
    """A running storyline with stories, credentials and resources, seen from the test."""

    def __init__(self, client: TestClient, database_url: str) -> None:
        self.client = client
        self.engine = make_engine(database_url)

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return list_events(conn, action=action, limit=10_000)

    def outputs(self, action: str) -> list[Any]:
        return [e["output"] for e in self.events(action)]

    def logs(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(t.logs.c.message).order_by(t.logs.c.id)).scalars())

    def settled(self) -> None:
        """Wait until no job is queued or running (jobs deferred to later, e.g. a delay, excepted)."""

        def idle() -> bool:
            j = t.jobs.c
            with self.engine.connect() as conn:
                return not conn.execute(sa.select(sa.func.count()).where(
                    j.status.in_(("queued", "running")), j.run_after <= time.time())).scalar_one()

        eventually(idle, what=self.logs)

    def webhook_url(self, story: Mapping[str, Any], name: str) -> str:
        """``/webhook/<path>/<secret>`` of a webhook action, as ``storyline story list`` shows it."""
        agent = next(a for a in story["agents"] if a["name"] == name and a["type"] == "Agents::WebhookAgent")
        options = agent["options"]
        return f"/webhook/{options.get('path') or agent['guid']}/{options['secret']}"

    def run_action(self, name: str) -> str:
        """What the Run button on an action with no upstream does: a new story run starting there."""
        with self.engine.begin() as conn:
            catalog = load_catalog(conn)
            action = next(a for a in catalog.actions.values() if a.name == name)
            run = queue.start_run(conn, catalog, action, time.time())
        return run

    def time_passes(self) -> None:
        """Make every deferred job due now, as if its delay had elapsed."""
        with self.engine.begin() as conn:
            conn.execute(t.jobs.update().where(t.jobs.c.status == "queued").values(run_after=time.time()))
        self.client.app.state.service.wake()  # type: ignore[attr-defined]

    def click(self, url: str) -> Any:
        """Open a prompt link from a message, as the person it was sent to does."""
        assert url.startswith(f"{PUBLIC}/prompt?"), url
        parts = urlsplit(url)
        response = self.client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200, response.text
        return response


def install(database_url: str, stories: list[dict[str, Any]], *, credentials: list[creds.Credential] = (),
            resources: Mapping[str, Any] | None = None) -> None:
    """``storyline story import`` + ``credential set`` + ``resource set``, before the server starts."""
    engine = make_engine(database_url)
    upgrade(engine)
    cipher = Cipher.for_database(database_url)
    now = time.time()
    with engine.begin() as conn:
        for data in stories:
            story, _warnings = parse_story(data)
            save_story(conn, story, now=now)
        for credential in credentials:
            save_credential(conn, cipher, credential, now)
        for name, value in (resources or {}).items():
            save_resource(conn, name, value, now)
    engine.dispose()


@contextmanager
def deployment(monkeypatch: pytest.MonkeyPatch, database_url: str, overrides: Mapping[str, str],
               **settings: Any) -> Iterator[Deployment]:
    """``storyline serve`` with ``STORYLINE_EGRESS_OVERRIDES`` sending the named hosts to fakes."""
    monkeypatch.setenv("STORYLINE_EGRESS_OVERRIDES", ",".join(f"{h}={u}" for h, u in overrides.items()))
    config = Settings.from_env(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05,
                               sqlite_synchronous="NORMAL", **settings)
    with TestClient(create_app(config)) as client:
        running = Deployment(client, database_url)
        try:
            yield running
        finally:
            running.engine.dispose()

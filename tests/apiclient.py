"""The REST API under test: an app on a fresh database and one API token per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.testclient import TestClient

from storyline.accounts.tokens import create_token
from storyline.config import Settings
from storyline.store.db import make_engine, upgrade
from storyline.store.queries import list_events
from storyline.web.app import create_app
from tests.harness import load_stories

ROLES = ("viewer", "editor", "admin")


@dataclass
class Api:
    client: TestClient
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.headers(role), **kwargs)

    def send(self, method: str, path: str, role: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, headers=self.headers(role), **kwargs)

    def outputs(self, action: str) -> list[Any]:
        """What ``action`` emitted so far, oldest first (read from the database)."""
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [event["output"] for event in list_events(conn, action=action, limit=100_000)]
        finally:
            engine.dispose()


@contextmanager
def api_on(database_url: str, *stories: dict[str, Any], **settings: Any) -> Iterator[Api]:
    """An app (no worker unless asked) on ``database_url`` with ``stories`` imported and a token per role."""
    load_stories(database_url, *stories)
    engine = make_engine(database_url)
    upgrade(engine)
    tokens = {}
    with engine.begin() as conn:
        for role in ROLES:
            tokens[role] = create_token(conn, f"test-{role}", role, actor="cli:test")
    engine.dispose()
    worker = settings.pop("worker", False)
    app = create_app(Settings(database_url=database_url, **settings), worker=worker)
    with TestClient(app) as client:
        yield Api(client, database_url, tokens)

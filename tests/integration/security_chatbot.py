"""What the security-chatbot tests share: the pack installed in a real app, fakes for the outside.

The pack's stories keep their real URLs (www.virustotal.com, urlhaus-api.abuse.ch,
rdap.org, slack.com, the Bot Connector); egress overrides send them to the fakes, whose
answers are the demo sandbox's (a name containing ``evil`` is malicious, ``new`` was
registered 3 days ago). Faults are scripted on the fakes.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from storyline import packs
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.store import tables as t
from storyline.store.db import make_engine, upgrade
from storyline.store.queries import list_events
from storyline.store.resources import save_resource
from storyline.store.stories import list_stories

PUBLIC = "https://storyline.example"


def install(database_url: str, credentials: dict[str, str | creds.Credential],
            resources: dict[str, Any] | None = None) -> None:
    """The pack as a user installs it, with the credentials (and resource changes) they set.

    A text credential is given by its value, any other kind (OAuth2, ...) as a ``Credential``.
    """
    engine = make_engine(database_url)
    upgrade(engine)
    cipher = Cipher.for_database(database_url)
    with engine.begin() as conn:
        packs.install(conn, "security-chatbot", now=time.time())
        for name, value in credentials.items():
            credential = creds.text(name, value) if isinstance(value, str) else value
            save_credential(conn, cipher, credential, time.time())
        for name, value in (resources or {}).items():
            save_resource(conn, name, value, time.time())
    engine.dispose()


class Database:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)

    def events(self, action: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return list_events(conn, action=action, limit=10_000)

    def webhook_url(self, path: str) -> str:
        """The webhook's URL with the secret this install gave it, as `storyline story list` shows it."""
        with self.engine.connect() as conn:
            [url] = [h["url"] for s in list_stories(conn) for h in s["webhooks"] if h["path"] == path]
        return url

    def settled(self) -> bool:
        """No job running and none due: what is still to happen waits for a later time."""
        j = t.jobs.c
        with self.engine.connect() as conn:
            return not conn.execute(sa.select(sa.func.count()).where(
                (j.status == "running") | ((j.status == "queued") & (j.run_after <= time.time())))).scalar_one()

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


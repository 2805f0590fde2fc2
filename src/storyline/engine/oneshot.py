"""``storyline run``: one story run, in-process, to completion.

A file is run against a throwaway SQLite database so trying a story never
touches the real one (with the sub-stories it calls, from the file or the real one);
a name is run against the configured database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storyline import jsondata
from storyline.actions.base import ActionSpec
from storyline.config import Settings
from storyline.credentials.cipher import Cipher
from storyline.credentials.keys import SecretKeyError, key_source
from storyline.credentials.vault import Vault
from storyline.engine import queue, substory
from storyline.engine.service import Service
from storyline.model import StoryDef
from storyline.store.db import make_engine, normalise_url
from storyline.store.queries import list_events, pending_jobs


class OneShotError(Exception):
    pass


def _entry(service: Service, story_name: str) -> ActionSpec:
    catalog = service.catalogs.current
    story_ids = [s.id for s in catalog.stories.values() if story_name in (s.name, s.guid)]
    if not story_ids:
        raise OneShotError(f"no story named {story_name!r}; `storyline story list` shows them")
    webhooks = [a for a in catalog.webhooks.values() if a.story_id == story_ids[0]]
    receivers = {r for targets in catalog.receivers.values() for r in targets}
    entries = [a for a in webhooks if a.id not in receivers] or webhooks
    if not entries:
        raise OneShotError(f"story {story_name!r} has no webhook action to send --input to")
    return sorted(entries, key=lambda a: a.id)[0]


def _exists(database_url: str) -> bool:
    url = make_url(normalise_url(database_url))
    return url.get_backend_name() != "sqlite" or bool(url.database and Path(url.database).is_file())


def _callees(definition: StoryDef, database_url: str) -> list[StoryDef]:
    """The sub-stories the file's story may call: embedded in the file, or already imported."""
    if not _exists(database_url):
        return substory.callees(definition, None)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return substory.callees(definition, conn if sa.inspect(conn).has_table("stories") else None)
    finally:
        engine.dispose()


def _vault_of(database_url: str) -> Vault | None:
    """The configured database's credentials and resources, read once; None if it has none yet."""
    if not _exists(database_url):
        return None
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("credentials"):
                return None
            try:
                cipher = Cipher.for_database(database_url, create=False)
            except SecretKeyError:
                cipher = Cipher(None, key_source(database_url))
            vault = Vault(cipher)
            vault.refresh(conn, force=True)
            return vault
    finally:
        engine.dispose()


async def run_once(story: str, body: Any, settings: Settings, *, timeout: float = 60.0) -> list[dict[str, Any]]:
    if jsondata.deeper_than(body, jsondata.MAX_DEPTH):
        raise OneShotError(f"--input nests deeper than {jsondata.MAX_DEPTH} levels of objects and arrays, as no "
                           "webhook body may; flatten it")
    path = Path(story)
    vault = None
    with tempfile.TemporaryDirectory(prefix="storyline-run-") as tmp:
        if path.is_file():
            # The story runs in a throwaway database, with the real one's credentials and resources.
            vault = _vault_of(settings.database_url)
            from storyline.store.stories import save_story
            from storyline.tines.importer import load_file

            definition, _warnings = load_file(path)
            callees = _callees(definition, settings.database_url)
            settings = dataclasses.replace(settings, database_url=f"sqlite:///{tmp}/run.db")
            story = definition.name
            service = Service(settings)
            from storyline.store.db import upgrade

            upgrade(service.engine)
            with service.engine.begin() as conn:
                for sub in [*callees, definition]:
                    save_story(conn, sub, now=time.time())
        else:
            service = Service(settings)
        await service.start()
        if vault is not None:
            service.runtime.vault = vault
        try:
            entry = _entry(service, story)
            ingested = await service.db.write(queue.ingest, service.catalogs.current, entry, body, time.time())
            service.wake()
            deadline = time.monotonic() + timeout
            while await service.db.read(pending_jobs, ingested.story_run):
                if time.monotonic() > deadline:
                    raise OneShotError(f"story run {ingested.story_run} still had work after {timeout:.0f}s")
                await asyncio.sleep(0.02)
            return await service.db.read(
                lambda conn: list_events(conn, run=ingested.story_run, limit=100_000)
            )
        finally:
            await service.stop()

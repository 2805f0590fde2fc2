"""``storyline run``: one story run, in-process, to completion, reported as it happens.

The run happens in a throwaway SQLite database, whether the story comes from a file or from the
configured database (its stories are copied, so Send to Story finds its sub-stories): nothing
else picks up its jobs (a server's worker on the same database would otherwise share them), and
trying a story never writes to the real one. A file's story runs with the sub-stories it calls
(embedded in the file, or already imported). The configured database's credentials and
resources are used, read once.

Tines lets you run any action with an event; so does this: a webhook is sent ``--input``, and
any other action without sources starts as a schedule tick starts it, with an empty event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from storyline import jsondata
from storyline.actions.base import ActionSpec
from storyline.config import Settings
from storyline.credentials.cipher import Cipher
from storyline.credentials.keys import SecretKeyError, key_file_for, key_source, new_key
from storyline.credentials.vault import Vault
from storyline.engine import queue, substory
from storyline.engine.catalog import Catalog
from storyline.engine.service import Service
from storyline.model import StoryDef
from storyline.store.db import make_engine, normalise_url, upgrade
from storyline.store.queries import list_events, list_logs, pending_jobs

WEBHOOK_TYPE = "Agents::WebhookAgent"


class OneShotError(Exception):
    """Why the story cannot be run; shown to the user as it is."""


@dataclass(frozen=True)
class Outcome:
    """What the run did: every event, and the error lines of the actions that failed."""

    story_run: str
    events: list[dict[str, Any]]
    failures: list[dict[str, Any]]


Report = Callable[[str, dict[str, Any]], None]
"""Called as the run goes: ``("event", event)`` for each event, ``("log", log line)`` for each log line."""


def _sourceless(catalog: Catalog, story_id: int) -> list[ActionSpec]:
    receivers = {r for targets in catalog.receivers.values() for r in targets}
    return sorted((a for a in catalog.actions.values() if a.story_id == story_id and a.id not in receivers),
                  key=lambda a: a.id)


def entry_action(catalog: Catalog, story_name: str, action: str | None) -> ActionSpec:
    """The action the run starts at: ``action`` (any action without sources), else the story's entry webhook."""
    story_ids = [s.id for s in catalog.stories.values() if story_name in (s.name, s.guid)]
    if not story_ids:
        raise OneShotError(f"no story named {story_name!r}; `storyline story list` shows them")
    starts = _sourceless(catalog, story_ids[0])
    listed = ", ".join(repr(a.name) for a in starts) or "none"
    if action is not None:
        found = [a for a in catalog.actions.values() if a.story_id == story_ids[0] and action in (a.name, a.key)]
        if not found:
            raise OneShotError(f"story {story_name!r} has no action {action!r}; actions without sources: {listed}")
        chosen = [a for a in found if a in starts]
        if not chosen:
            raise OneShotError(f"action {action!r} receives events from other actions; a run starts at an action "
                               f"without sources: {listed}")
        return chosen[0]
    webhooks = [a for a in starts if a.type == WEBHOOK_TYPE]
    if not webhooks:
        raise OneShotError(f"story {story_name!r} has no webhook action to send --input to; start at one of its "
                           f"actions without sources with --action NAME: {listed}")
    return webhooks[0]


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


def _stories_of(database_url: str, name: str) -> tuple[str, list[StoryDef]]:
    """The named story's name and every story of the configured database (sub-stories included)."""
    from storyline.store.stories import StoryNotFoundError, list_stories, load_story

    if not _exists(database_url):
        raise OneShotError(f"{name!r} is neither a file nor a story in {database_url} (no such database yet)")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            upgrade(engine)
            try:
                wanted = load_story(conn, name)
            except StoryNotFoundError as exc:
                raise OneShotError(f"{name!r} is not a file, and {exc}") from None
            others = [load_story(conn, row["guid"]) for row in list_stories(conn) if row["guid"] != wanted.guid]
            return wanted.name, [wanted, *others]
    finally:
        engine.dispose()


def _throwaway(settings: Settings, folder: str) -> Settings:
    """Settings for a database of the run's own, whose key is made silently (it goes with the folder)."""
    database_url = f"sqlite:///{folder}/run.db"
    key_file = key_file_for(database_url)
    if key_file is not None and not os.environ.get("STORYLINE_SECRET_KEY"):
        key_file.write_text(new_key() + "\n")
        key_file.chmod(0o600)
    return dataclasses.replace(settings, database_url=database_url, scheduler=False)


async def run_once(
    story: str, body: Any, settings: Settings, *, action: str | None = None, timeout: float = 60.0,
    report: Report | None = None,
) -> Outcome:
    if jsondata.deeper_than(body, jsondata.MAX_DEPTH):
        raise OneShotError(f"--input nests deeper than {jsondata.MAX_DEPTH} levels of objects and arrays, as no "
                           "webhook body may; flatten it")
    path = Path(story)
    if path.is_file():
        from storyline.tines.importer import load_file

        definition, _warnings = load_file(path)
        story, definitions = definition.name, [*_callees(definition, settings.database_url), definition]
    else:
        story, definitions = _stories_of(settings.database_url, story)
    vault = _vault_of(settings.database_url)
    with tempfile.TemporaryDirectory(prefix="storyline-run-") as tmp:
        service = Service(_throwaway(settings, tmp))
        upgrade(service.engine)
        _save_all(service, definitions)
        await service.start()
        if vault is not None:
            service.runtime.vault = vault
        try:
            return await _run(service, story, action, body, timeout, report or (lambda kind, item: None))
        finally:
            await service.stop()


def _save_all(service: Service, definitions: list[StoryDef]) -> None:
    from storyline.store.stories import save_story

    with service.engine.begin() as conn:
        for definition in definitions:
            save_story(conn, definition, now=time.time())


async def _run(service: Service, story: str, action: str | None, body: Any, timeout: float,
               report: Report) -> Outcome:
    catalog = service.catalogs.current
    entry = entry_action(catalog, story, action)
    now = time.time()
    if entry.type == WEBHOOK_TYPE:
        story_run = (await service.db.write(queue.ingest, catalog, entry, body, now)).story_run
    else:
        story_run = await service.db.write(queue.start_run, catalog, entry, now)
    service.wake()
    deadline = time.monotonic() + timeout
    seen_event = seen_log = 0
    failures: list[dict[str, Any]] = []
    while True:
        working = await service.db.read(pending_jobs, story_run)
        events = await service.db.read(_new_events, story_run, seen_event)
        logs = await service.db.read(_new_logs, story_run, seen_log)
        for kind, item in sorted([("event", e) for e in events] + [("log", g) for g in logs],
                                 key=lambda pair: pair[1]["created_at"] or ""):
            report(kind, item)
        seen_event = max([seen_event, *(e["id"] for e in events)])
        seen_log = max([seen_log, *(g["id"] for g in logs)])
        failures.extend(g for g in logs if g["level"] == "error")
        if not working:
            break
        if time.monotonic() > deadline:
            raise OneShotError(f"story run {story_run} still had work after {timeout:.0f}s (--timeout)")
        await asyncio.sleep(0.05)
    every = await service.db.read(lambda conn: list_events(conn, run=story_run, limit=100_000))
    return Outcome(story_run, every, failures)


def _new_events(conn: Connection, story_run: str, after: int) -> list[dict[str, Any]]:
    return list_events(conn, run=story_run, after=after, limit=100_000)


def _new_logs(conn: Connection, story_run: str, after: int) -> list[dict[str, Any]]:
    return list_logs(conn, run=story_run, after=after, limit=100_000)

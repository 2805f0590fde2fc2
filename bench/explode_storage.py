"""Bytes on disk and peak memory when one large webhook body is exploded (security issue 12, item 6).

    .venv/bin/python bench/explode_storage.py [--items 500] [--item-bytes 800]

A fresh SQLite database in a temporary directory; the story is webhook -> explode
(one event per element of ``items``) -> a trigger on each element, run in-process
by a real worker until no job is left. Prints the database and WAL sizes before a
checkpoint, while the server still runs (what the run wrote), the database size after one, the bytes the
process wrote (/proc/self/io), and its peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storyline.config import Settings
from storyline.engine import queue
from storyline.engine.service import Service
from storyline.store import tables as t
from storyline.store.stories import save_story
from storyline.tines.importer import parse_story


def _agent(type_: str, name: str, **options: Any) -> dict[str, Any]:
    return {"type": f"Agents::{type_}", "name": name, "disabled": False, "guid": uuid.uuid4().hex,
            "options": options}


STORY = {
    "schema_version": 4, "name": "Explode storage", "description": "", "guid": uuid.uuid4().hex,
    "agents": [
        _agent("WebhookAgent", "Hook", path="explode", secret="s", verbs="post", include_headers="false"),
        _agent("EventTransformationAgent", "Explode items", mode="explode", path="{{.hook.items}}", to="item"),
        _agent("TriggerAgent", "Has id", rules=[{"type": "regex", "path": "{{.explode_items.item.id}}",
                                                  "value": "."}]),
    ],
    "links": [{"source": 0, "receiver": 1}, {"source": 1, "receiver": 2}],
}


def _written_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def _sizes(db: Path) -> tuple[int, int]:
    wal = Path(f"{db}-wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def _run(db: Path, body: dict[str, Any]) -> tuple[int, tuple[int, int]]:
    settings = replace(Settings(database_url=f"sqlite:///{db}"), max_attempts=1)
    service = Service(settings)
    await service.start()
    try:
        story, _ = parse_story(STORY)
        await service.db.write(lambda conn: save_story(conn, story, now=time.time()))
        await service.db.read(lambda conn: service.catalogs.refresh(conn, force=True))
        hook = next(a for a in service.catalogs.current.actions.values() if a.key == "hook")
        await service.db.write(queue.ingest, service.catalogs.current, hook, body, time.time())
        service.wake()
        busy = t.jobs.c.status.in_(("queued", "running"))
        while await service.db.read(lambda c: c.execute(sa.select(sa.func.count()).where(busy)).scalar_one()):
            await asyncio.sleep(0.05)
        count = sa.select(sa.func.count()).select_from(t.events)
        return await service.db.read(lambda c: c.execute(count).scalar_one()), _sizes(db)
    finally:
        await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--item-bytes", type=int, default=800)
    args = parser.parse_args()
    body = {"items": [{"id": n, "data": "x" * (args.item_bytes - 30)} for n in range(args.items)]}
    size = len(json.dumps(body))
    with tempfile.TemporaryDirectory(prefix="storyline-explode-") as tmp:
        db = Path(tmp) / "storyline.db"
        written = _written_bytes()
        started = time.monotonic()
        events, (db_bytes, wal_bytes) = asyncio.run(_run(db, body))
        took = time.monotonic() - started
        written = _written_bytes() - written
        engine = sa.create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        after = db.stat().st_size
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mib = 1024 * 1024
    print(f"body {size / 1024:.0f} KiB, {args.items} items -> {events} events in {took:.1f}s")
    print(f"database {db_bytes / mib:.1f} MiB + WAL {wal_bytes / mib:.1f} MiB = {(db_bytes + wal_bytes) / mib:.1f} MiB; "
          f"after a checkpoint {after / mib:.1f} MiB")
    print(f"bytes written by the process {written / mib:.1f} MiB; peak RSS {rss:.0f} MiB")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

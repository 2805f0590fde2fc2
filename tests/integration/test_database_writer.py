"""The batching writer: on PostgreSQL two writers' transactions that deadlock are both carried out; on
SQLite, serve's processes share the one write lock without waiting on each other's reads or for long.

Writers commit batches side by side on PostgreSQL, and the operations in them lock rows in
whatever order they come, so deadlocks happen under load (measured with bench/chatbot.py:
webhook requests answered 500 before this). PostgreSQL aborts one transaction; the writer
runs that batch again instead of failing operations that did nothing wrong.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.engine.database import Database, WriteTurns
from storyline.store import tables as t
from storyline.store.db import lock_key, make_engine, upgrade
from storyline.web.health import probe_write
from tests.support import eventually


def crossing(first: str, second: str, barrier: threading.Barrier, attempts: list[str]) -> Any:
    """Lock ``first``, wait for the other writer to lock its first, then lock ``second``."""

    def op(conn: Connection) -> str:
        attempts.append(first)
        resources = t.resources.c
        conn.execute(t.resources.update().where(resources.name == first).values(updated_at=1.0))
        if attempts.count(first) == 1:
            barrier.wait(timeout=10)
        conn.execute(t.resources.update().where(resources.name == second).values(updated_at=2.0))
        return f"{first} then {second}"

    return op


def test_transactions_that_deadlock_are_run_again_not_failed(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has a single writer: nothing to deadlock")
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(t.resources.insert(), [{"name": n, "value": None, "created_at": 0.0, "updated_at": 0.0}
                                            for n in ("a", "b")])
    barrier = threading.Barrier(2)
    attempts: list[str] = []

    async def main() -> list[Any]:
        left, right = Database(engine, writers=1), Database(engine, writers=1)
        # Queued before the writers start: the left writer takes both in one batch (savepoints),
        # the right one runs its operation alone.
        tasks = [asyncio.ensure_future(left.write(lambda conn: "a batch neighbour")),
                 asyncio.ensure_future(left.write(crossing("a", "b", barrier, attempts))),
                 asyncio.ensure_future(right.write(crossing("b", "a", barrier, attempts)))]
        await asyncio.sleep(0)  # one turn of the loop: each task puts its operation in the queue
        left.start()
        right.start()
        try:
            return await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        finally:
            left.stop()
            right.stop()

    with caplog.at_level(logging.INFO, logger="storyline.engine.database"):
        results = asyncio.run(main())

    assert results == ["a batch neighbour", "a then b", "b then a"]
    assert len(attempts) == 3, attempts  # one of the two ran again
    assert any("DeadlockDetected" in r.getMessage() and "running it again" in r.getMessage()
               for r in caplog.records)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.resources)).scalar_one() == 2
    engine.dispose()


def test_a_transaction_ends_after_an_operation_that_took_a_lock(database_url: str) -> None:
    """So a batch never holds one operation's lock while another operation waits for a second."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite takes no locks per key: its single writer serialises")
    engine = make_engine(database_url)

    def transaction(conn: Connection) -> int:
        return conn.execute(sa.text("SELECT txid_current()")).scalar_one()

    def locking(conn: Connection) -> int:
        lock_key(conn, "test", 1)
        return transaction(conn)

    async def main() -> list[int]:
        db = Database(engine, writers=1)
        tasks = [asyncio.ensure_future(db.write(op)) for op in (transaction, locking, transaction, transaction)]
        await asyncio.sleep(0)  # one turn of the loop queues all four: the writer takes them as one batch
        db.start()
        try:
            return await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        finally:
            db.stop()

    first, locked, after, last = asyncio.run(main())
    assert first == locked != after == last
    engine.dispose()


# ------------------------------------------------------------------------ SQLite shared by several processes


def _sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's one write lock, shared by serve's processes")


def test_a_read_takes_no_write_lock_so_another_process_writes_meanwhile(database_url: str) -> None:
    """A worker reading a job's events must not hold up the web process acknowledging a webhook."""
    _sqlite_only(database_url)
    engine = make_engine(database_url)
    upgrade(engine)
    reading, done = threading.Event(), threading.Event()

    def long_read(conn: Connection) -> int:
        count = conn.execute(sa.select(sa.func.count()).select_from(t.resources)).scalar_one()
        reading.set()
        done.wait(timeout=10)
        return count

    async def main() -> int:
        db = Database(engine)
        db.start()
        try:
            read = asyncio.ensure_future(db.read(long_read))
            await asyncio.to_thread(reading.wait, 10)
            other = sqlite3.connect(engine.url.database, timeout=0.1, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # "database is locked" if the read held the lock
                other.execute("UPDATE alembic_version SET version_num = version_num")
                other.execute("COMMIT")
            finally:
                other.close()
                done.set()
            return await read
        finally:
            db.stop()

    assert asyncio.run(main()) == 0
    engine.dispose()


def test_the_web_process_waiting_for_the_write_lock_goes_before_a_worker_that_wants_it_again(tmp_path: Path) -> None:
    """A worker process that has just committed does not take the lock again while an ack waits for it."""
    worker = WriteTurns(str(tmp_path / "s.db"), priority=False)  # each its own open files, as two processes
    web = WriteTurns(str(tmp_path / "s.db"), priority=True)
    order: list[str] = []

    def acknowledge() -> None:
        with web.turn():
            order.append("web")

    def web_waiting() -> bool:
        probe = os.open(tmp_path / "s.db-gate.lock", os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # the web process holds the gate: it waits for the write lock
        finally:
            os.close(probe)
        return False

    with worker.turn():
        order.append("worker")
        other = threading.Thread(target=acknowledge)
        other.start()
        eventually(web_waiting, 10, "the web process waiting")
    with worker.turn():
        order.append("worker again")
    other.join(timeout=10)
    worker.close()
    web.close()
    assert order == ["worker", "web", "worker again"]


@pytest.mark.parametrize(("limit", "commits"), [(None, 1), (0.0, 3)])
def test_a_worker_process_commits_once_its_transaction_has_run_its_time(
    database_url: str, limit: float | None, commits: int
) -> None:
    """Three operations queued together: one transaction, or (past the limit) one each, so others get the lock between."""
    _sqlite_only(database_url)
    engine = make_engine(database_url)
    upgrade(engine)
    committed: list[int] = []
    sa.event.listen(engine, "commit", lambda _conn: committed.append(1))

    async def main() -> None:
        db = Database(engine, writers=1, transaction_seconds=limit)
        tasks = [asyncio.ensure_future(db.write(probe_write)) for _ in range(3)]
        await asyncio.sleep(0)  # one turn of the loop queues all three: the writer takes them as one batch
        db.start()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        finally:
            db.stop()

    asyncio.run(main())
    assert len(committed) == commits
    engine.dispose()

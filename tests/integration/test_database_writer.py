"""The batching writer: on PostgreSQL two writers' transactions that deadlock are both carried out.

Writers commit batches side by side on PostgreSQL, and the operations in them lock rows in
whatever order they come, so deadlocks happen under load (measured with bench/chatbot.py:
webhook requests answered 500 before this). PostgreSQL aborts one transaction; the writer
runs that batch again instead of failing operations that did nothing wrong.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.engine.database import Database
from storyline.store import tables as t
from storyline.store.db import lock_key, make_engine, upgrade


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

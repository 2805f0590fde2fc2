"""Database access for the async server: a batching writer and a reader pool.

Why a batching writer: SQLite has one writer and every commit is an fsync. The
writer thread takes every operation that is waiting, runs each in its own
savepoint and commits them together (group commit), so a flood of webhooks costs
one fsync per batch while each request is still durable before it is answered.
An operation that fails rolls back only its savepoint.

Each writer thread keeps its connection (checking one out of the pool per batch cost a
pool round and, on PostgreSQL, a ping), and runs a batch's operations without savepoints:
when one fails, the batch is rolled back and run again with each operation in its own
savepoint, so that only the failed one is undone. Failures are rare (a hostile request
refused, a template error); savepoints on every operation cost two statements each.

On PostgreSQL several writers commit batches side by side, and operations lock rows
(a webhook's delivery and rate-limit keys, an action's state) in whatever order
their batch holds them, so two batches could deadlock. A transaction therefore
commits right after an operation that took a lock; and when PostgreSQL still aborts
one for a deadlock or a serialization failure, what it ran is run again (every
operation is a function of the connection, so running it again in a fresh
transaction is safe) instead of failing requests that did nothing wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from storyline.actions.base import ActionError
from storyline.store import run_bytes
from storyline.store.db import LOCKS_HELD, is_sqlite, is_transient

log = logging.getLogger(__name__)
T = TypeVar("T")
Outcome = tuple[Any, Any, BaseException | None]
MAX_BATCH = 256
SLOW_BATCH_SECONDS = 0.5
IDLE_CONNECTION_SECONDS = 30.0
"""A writer's connection unused this long is handed back and a fresh (pinged) one taken."""
SWITCH_INTERVAL = 0.0005
BATCH_ATTEMPTS = 5


class Database:
    def __init__(self, engine: Engine, *, writers: int | None = None, readers: int = 4) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._writers = writers or (1 if self.sqlite else 4)
        self._ops: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="storyline-read")
        self._local = threading.local()

    def start(self) -> None:
        # The writer threads share the GIL with the event loop, and the database driver
        # releases it around every statement: with Python's default 5 ms switch interval a
        # writer waits up to 5 ms to get it back after each statement while the loop is busy,
        # so a batch of small statements took hundreds of milliseconds under load (measured:
        # bench/README.md). A shorter interval keeps batches, and so acknowledgements, short.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        for n in range(self._writers):
            thread = threading.Thread(target=self._write_loop, name=f"storyline-write-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for _ in self._threads:
            self._ops.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._readers.shutdown(wait=True)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in a write transaction; returns after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        self._ops.put((fn, args, future, loop))
        return await future

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, fn, args)

    def _read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self.engine.connect() as conn:
            return fn(conn, *args)

    def _write_loop(self) -> None:
        try:
            self._serve_writes()
        finally:
            self._drop_connection()

    def _connection(self) -> Connection:
        """This writer thread's connection, taken again when it broke or sat idle (it may have gone stale)."""
        local = self._local
        conn: Connection | None = getattr(local, "conn", None)
        now = time.monotonic()
        if conn is not None and (conn.closed or conn.invalidated or now - local.used > IDLE_CONNECTION_SECONDS):
            self._drop_connection()
            conn = None
        if conn is None:
            conn = local.conn = self.engine.connect()
        local.used = now
        return conn

    def _drop_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection may fail to close: it is gone either way
                log.debug("closing a writer's connection failed", exc_info=True)

    def _serve_writes(self) -> None:
        while True:
            first = self._ops.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._ops.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._ops.put(None)  # let this thread finish the batch, then stop
                    break
                batch.append(item)
            self._run_batch(batch)

    def _run_batch(self, batch: list[Any]) -> None:
        started = time.monotonic()
        outcomes: list[Outcome] = []
        pending, attempt = batch, 1
        while pending:
            try:
                done, pending = self._transaction(pending)
                outcomes.extend(done)
                attempt = 1
            except Exception as exc:
                if getattr(self._local, "conn", None) is not None and self._local.conn.invalidated:
                    self._drop_connection()  # the next batch connects afresh
                if is_transient(exc) and attempt < BATCH_ATTEMPTS:
                    log.warning("a write transaction of %d operation(s) hit %s; running it again (attempt %d)",
                                len(pending), type(getattr(exc, "orig", exc)).__name__, attempt + 1)
                    attempt += 1
                    time.sleep(random.uniform(0, 0.02 * attempt))
                    continue
                # Neither is a failure of the writer: a 4xx of storyline.operations, nor an action failing
                # in it (a pure action's template error), which the worker records as the job's error.
                if not getattr(exc, "caller_error", False) and not isinstance(exc, ActionError):
                    log.exception("write transaction failed")
                outcomes.extend((item, None, exc) for item in pending)
                pending = []
        took = time.monotonic() - started
        if took > SLOW_BATCH_SECONDS:
            log.warning("a write transaction of %d operation(s) took %.2fs; %d more waiting",
                        len(batch), took, self._ops.qsize())
        for (_fn, _args, future, loop), result, error in outcomes:
            loop.call_soon_threadsafe(_settle, future, result, error)

    def _transaction(self, batch: list[Any]) -> tuple[list[Outcome], list[Any]]:
        """Run operations in one transaction; return their outcomes and the ones left for the next.

        The transaction commits early, right after an operation that took a lock
        (``store.db.lock_key``), so that no transaction holds one operation's lock while
        waiting for another's: that is how two batches deadlock. Raises (rolling back
        what it ran) on a transient error.
        """
        conn = self._connection()
        failed: Exception | None = None
        outcomes: list[Outcome] = []
        try:
            with self._begin(conn):
                for n, item in enumerate(batch):
                    fn, args, _future, _loop = item
                    try:
                        outcomes.append((item, _call(fn, conn, args), None))
                    except Exception as exc:
                        failed = exc
                        raise
                    if conn.info.pop(LOCKS_HELD, False):
                        return outcomes, batch[n + 1 :]
        except Exception as exc:
            conn.info.pop(LOCKS_HELD, None)
            if exc is not failed or is_transient(exc):
                raise  # the commit failed, or the database aborted the transaction: run it all again
            if len(batch) == 1:
                return [(batch[0], None, exc)], []
            # One operation failed, and the others' work went with the rollback: again, each in a savepoint.
            return self._one_by_one(conn, batch)
        return outcomes, []

    @contextlib.contextmanager
    def _begin(self, conn: Connection) -> Iterator[None]:
        """A write transaction; on PostgreSQL the story runs' byte counts are added at its end
        (``store.run_bytes``), so that counting them locks no row until then."""
        with conn.begin():
            if not self.sqlite:
                run_bytes.defer(conn)
            try:
                yield
            except BaseException:
                run_bytes.discard(conn)
                raise
            run_bytes.write(conn)

    def _one_by_one(self, conn: Connection, batch: list[Any]) -> tuple[list[Outcome], list[Any]]:
        """``_transaction`` with each operation in a savepoint, so a failure undoes that operation only."""
        outcomes: list[Outcome] = []
        with self._begin(conn):
            for n, item in enumerate(batch):
                fn, args, _future, _loop = item
                counted = run_bytes.checkpoint(conn)
                try:
                    with conn.begin_nested():
                        result = _call(fn, conn, args)
                    outcomes.append((item, result, None))
                except Exception as exc:
                    if is_transient(exc):
                        conn.info.pop(LOCKS_HELD, None)
                        raise
                    run_bytes.restore(conn, counted)
                    outcomes.append((item, None, exc))
                if conn.info.pop(LOCKS_HELD, False):
                    return outcomes, batch[n + 1 :]
        return outcomes, []


def _call(fn: Callable[..., T], conn: Connection, args: tuple[Any, ...]) -> T:
    return fn(conn, *args)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)

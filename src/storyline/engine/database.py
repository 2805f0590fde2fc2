"""Database access for the async server: a batching writer and a reader pool.

Why a batching writer: SQLite has one writer and every commit is an fsync. The
writer thread takes every operation that is waiting, runs each in its own
savepoint and commits them together (group commit), so a flood of webhooks costs
one fsync per batch while each request is still durable before it is answered.
An operation that fails rolls back only its savepoint.

On PostgreSQL several writers commit batches side by side, and operations lock rows
(a webhook's delivery and rate-limit keys, an action's state) in whatever order
their batch holds them, so two batches could deadlock. A transaction therefore
commits right after an operation that took a lock; and when PostgreSQL still aborts
one for a deadlock or a serialization failure, what it ran is run again (every
operation is a function of the connection, so running it again in a fresh
transaction is safe) instead of failing requests that did nothing wrong.

On SQLite several processes (serve's web process and its worker processes) share the
one write lock. SQLite's own wait for it is a sleep-and-retry loop (sleeps of up to
100 ms), in which a process that commits often takes the lock again before a waiter
wakes up: acks waited behind the worker for up to a second (bench/README.md). So a
writer takes its turn at a lock file first (``WriteTurns``): waiters are woken the
moment the lock is released, and the web process goes ahead of the worker processes.
A worker process's writer also commits once a transaction has run
``transaction_seconds``, so that the web process, whose acks wait for the lock, waits
for little. Reads take no lock at all (``store.db.READS_ONLY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine, make_url

from storyline.actions.base import ActionError
from storyline.store.db import LOCKS_HELD, READS_ONLY, is_sqlite, is_transient

log = logging.getLogger(__name__)
T = TypeVar("T")
Outcome = tuple[Any, Any, BaseException | None]
MAX_BATCH = 256
SLOW_BATCH_SECONDS = 0.5
SWITCH_INTERVAL = 0.0005
BATCH_ATTEMPTS = 5
BRIEF_TRANSACTION_SECONDS = 0.01
"""How long a worker process's write transaction runs on SQLite before it commits and lets the others in."""


class WriteTurns:
    """Turns at SQLite's write lock among processes: a queue in the kernel, not a sleep-and-retry loop.

    Two ``flock`` files beside the database. A writer holds the *write* lock for its whole
    transaction: one waiting for it is woken the moment it is released. The web process, whose
    acks wait on it (``priority``), holds the *gate* while it waits; worker processes pass the gate
    before they wait. So once the web process waits, no worker process gets in ahead of it but
    those already waiting, each for one brief transaction; and a worker that has just committed
    cannot take the lock again and again (measured: bench/README.md). A process that dies lets go
    of both (the kernel closes its files).
    """

    def __init__(self, path: str, *, priority: bool) -> None:
        self._gate = _private_file(f"{path}-gate.lock")
        self._write = _private_file(f"{path}-write.lock")
        self._priority = priority

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        if self._priority:
            fcntl.flock(self._gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(self._write, fcntl.LOCK_EX)
            finally:
                fcntl.flock(self._gate, fcntl.LOCK_UN)
        else:
            fcntl.flock(self._gate, fcntl.LOCK_SH)  # waits while the web process waits for the lock
            fcntl.flock(self._gate, fcntl.LOCK_UN)
            fcntl.flock(self._write, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._write, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._gate)
        os.close(self._write)

    @classmethod
    def of(cls, engine: Engine, *, priority: bool) -> WriteTurns | None:
        """For a SQLite file; None for PostgreSQL and in-memory SQLite (one process: nobody to take turns with)."""
        if not is_sqlite(engine):
            return None
        path = make_url(str(engine.url)).database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return cls(path, priority=priority)


def _private_file(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class Database:
    def __init__(
        self, engine: Engine, *, writers: int | None = None, readers: int = 4, transaction_seconds: float | None = None,
    ) -> None:
        """``transaction_seconds``: on a SQLite file, commit once a transaction has run that long, and let the
        web process (which sets None: never) go first at the write lock."""
        self.engine = engine
        self._transaction_seconds = transaction_seconds
        self.sqlite = is_sqlite(engine)
        self._writers = writers or (1 if self.sqlite else 4)
        self._ops: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="storyline-read")
        self._turns: WriteTurns | None = None

    def start(self) -> None:
        # The writer threads share the GIL with the event loop, and the database driver
        # releases it around every statement: with Python's default 5 ms switch interval a
        # writer waits up to 5 ms to get it back after each statement while the loop is busy,
        # so a batch of small statements took hundreds of milliseconds under load (measured:
        # bench/README.md). A shorter interval keeps batches, and so acknowledgements, short.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._turns = WriteTurns.of(self.engine, priority=self._transaction_seconds is None)
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
        if self._turns is not None:
            self._turns.close()
            self._turns = None

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
        with self.engine.connect().execution_options(**{READS_ONLY: True}) as conn:
            return fn(conn, *args)

    def _write_loop(self) -> None:
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
        waiting for another's: that is how two batches deadlock; and on a SQLite file once
        it has run ``transaction_seconds``, so that other processes wait for it no longer.
        Raises (rolling back what it ran) on a transient error.
        """
        outcomes: list[Outcome] = []
        with self._turn(), self.engine.begin() as conn:
            began = time.monotonic()
            if len(batch) == 1:
                fn, args, _future, _loop = batch[0]
                try:
                    outcomes.append((batch[0], _call(fn, conn, args), None))
                finally:
                    conn.info.pop(LOCKS_HELD, None)
                return outcomes, []
            for n, item in enumerate(batch):
                fn, args, _future, _loop = item
                try:
                    with conn.begin_nested():
                        result = _call(fn, conn, args)
                    outcomes.append((item, result, None))
                except Exception as exc:
                    if is_transient(exc):
                        conn.info.pop(LOCKS_HELD, None)
                        raise
                    outcomes.append((item, None, exc))
                if conn.info.pop(LOCKS_HELD, False) or self._long(began):
                    return outcomes, batch[n + 1 :]
        return outcomes, []

    def _long(self, began: float) -> bool:
        limit = self._transaction_seconds
        return self._turns is not None and limit is not None and time.monotonic() - began > limit

    def _turn(self) -> contextlib.AbstractContextManager[None]:
        return self._turns.turn() if self._turns is not None else contextlib.nullcontext()


def _call(fn: Callable[..., T], conn: Connection, args: tuple[Any, ...]) -> T:
    return fn(conn, *args)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)

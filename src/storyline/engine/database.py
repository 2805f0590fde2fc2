"""Database access for the async server: a batching writer and a reader pool.

Why a batching writer: SQLite has one writer and every commit is an fsync. The
writer thread takes every operation that is waiting, runs each in its own
savepoint and commits them together (group commit), so a flood of webhooks costs
one fsync per batch while each request is still durable before it is answered.
An operation that fails rolls back only its savepoint.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from storyline.store.db import is_sqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
Operation = Callable[..., Any]
MAX_BATCH = 256
SLOW_BATCH_SECONDS = 0.5
SWITCH_INTERVAL = 0.0005


class Database:
    def __init__(self, engine: Engine, *, writers: int | None = None, readers: int = 4) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._writers = writers or (1 if self.sqlite else 4)
        self._ops: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="storyline-read")

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
        outcomes: list[tuple[Any, Any, BaseException | None]] = []
        try:
            with self.engine.begin() as conn:
                if len(batch) == 1:
                    fn, args, future, loop = batch[0]
                    outcomes.append((batch[0], _call(fn, conn, args), None))
                else:
                    for item in batch:
                        fn, args, _future, _loop = item
                        try:
                            with conn.begin_nested():
                                result = _call(fn, conn, args)
                            outcomes.append((item, result, None))
                        except Exception as exc:
                            outcomes.append((item, None, exc))
        except Exception as exc:
            log.exception("write transaction failed")
            outcomes = [(item, None, exc) for item in batch]
        took = time.monotonic() - started
        if took > SLOW_BATCH_SECONDS:
            log.warning("a write transaction of %d operation(s) took %.2fs; %d more waiting",
                        len(batch), took, self._ops.qsize())
        for (_fn, _args, future, loop), result, error in outcomes:
            loop.call_soon_threadsafe(_settle, future, result, error)


def _call(fn: Callable[..., T], conn: Connection, args: tuple[Any, ...]) -> T:
    return fn(conn, *args)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)

"""The worker: claims due jobs, runs their actions, files the results.

Pure actions (trigger, transform) run inside the writer's transaction; actions
with I/O run on the event loop between two transactions (claim, then complete),
so a crash between them leaves a leased job that the reaper hands back.

Two bounds, by what a job waits on. ``concurrency`` (``worker_concurrency``) counts the
jobs that use the CPU or the writer; a job inside an I/O action (an HTTP request, a mail
server) waits on the network and counts only against ``in_flight``
(``worker_in_flight``), since it costs a coroutine, not CPU. A job is leased only when
it can start at once, so a burst never leases jobs that then sit unstarted.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from storyline.actions import runnable
from storyline.actions.base import ActionError, ActionSpec, PureAction, RunContext
from storyline.config import Settings
from storyline.engine import queue
from storyline.engine.catalog import Catalog, CatalogCache
from storyline.engine.database import Database
from storyline.engine.runtime import Runtime
from storyline.store.queries import run_outcomes

log = logging.getLogger(__name__)
T = TypeVar("T")
runs_log = logging.getLogger("storyline.runs")
REPORT_EVERY_SECONDS = 0.5
CLAIM_BATCH = 8
"""While jobs run, the worker claims when at least this many can start (fewer when its bound is small)."""
"""How often the worker says which runs ended (``storyline.runs`` lines on serve's console)."""
"""One line per finished or failed story run on ``serve``'s console (INFO; ``serve --quiet`` hides it)."""


OUTSIDE_WRITER_THREADS = max(1, (os.cpu_count() or 2) // 2)
"""Pure jobs whose regexes outran the writer's budget run on at most half the CPUs, so that a flood of
events meeting a runaway pattern leaves the rest to answer webhooks."""


class Worker:
    def __init__(
        self, db: Database, runtime: Runtime, catalogs: CatalogCache, settings: Settings,
        *, concurrency: int | None = None, in_flight: int | None = None, name: str | None = None,
    ) -> None:
        self.db = db
        self.runtime = runtime
        self.catalogs = catalogs
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.in_flight = max(self.concurrency, in_flight or settings.worker_in_flight)
        self._waiting = 0  # jobs in flight inside an I/O action: waiting on an upstream, not on the CPU
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self.completed = 0
        # The last 1,000 runs said to have ended: the deque keeps their order, the set answers "said?"
        # (a membership test on the deque walked it for every run a job finished in).
        self._reported: collections.deque[str] = collections.deque(maxlen=1000)
        self._reported_set: set[str] = set()
        # The worker's own, so that stopping drops the jobs queued on it (see ``run``).
        self._outside_writer = concurrent.futures.ThreadPoolExecutor(
            max_workers=OUTSIDE_WRITER_THREADS, thread_name_prefix="storyline-outside-writer")
        self._ending: set[str] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        helpers = [
            asyncio.create_task(self._heartbeat(stop)),
            asyncio.create_task(self._reaper(stop)),
        ]
        if runs_log.isEnabledFor(logging.INFO):
            helpers.append(asyncio.create_task(self._report_runs(stop)))
        if not self.db.sqlite:
            helpers.append(asyncio.create_task(self._listen(stop)))
        try:
            while not stop.is_set():
                self._wake.clear()  # before counting: whatever changes the count from here on wakes the wait below
                free = self._free()
                jobs: list[queue.Job] = []
                if free >= self._claim_at_least():
                    jobs = await self._claim(min(free, 64))
                    for job in jobs:
                        task = asyncio.create_task(self._process(job))
                        self._inflight[job.id] = task
                        task.add_done_callback(functools.partial(self._done, job.id))
                if not jobs or free < self._claim_at_least():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=await self._idle_wait())
        finally:
            for task in helpers:
                task.cancel()
            # Jobs queued behind runaway regexes (a second each, one thread) would hold a stop for minutes:
            # they are cancelled, their leases lapse, and the next worker runs them. Those running finish.
            self._outside_writer.shutdown(wait=False, cancel_futures=True)
            if self._inflight:
                await asyncio.wait(list(self._inflight.values()), timeout=self.settings.lease_seconds)
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _claim_at_least(self) -> int:
        """Claim in batches while jobs are running: each claim is a write and a read, and claiming
        every job as a slot came free cost more than the jobs' own reads (py-spy, bench/README.md)."""
        return 1 if not self._inflight else max(1, min(CLAIM_BATCH, self.concurrency // 4))

    def _free(self) -> int:
        """How many jobs to lease now: as many as can start at once within both bounds."""
        busy = len(self._inflight) - self._waiting
        return min(self.in_flight - len(self._inflight), self.concurrency - busy)

    def _done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(job_id, None)
        self._wake.set()

    async def _idle_wait(self) -> float:
        if self._free() < self._claim_at_least():
            return 1.0
        due = await self.db.read(queue.next_due)
        if due is None:
            return 1.0
        return min(1.0, max(0.005, due - time.time()))

    async def _claim(self, limit: int) -> list[queue.Job]:
        catalog = await self.catalogs.get()
        leased = await self.db.write(queue.lease, self.name, limit, self.settings.lease_seconds, time.time())
        if not leased:
            return []
        # Assembling the jobs' events is a read: outside the one writer every ack waits on. Alongside
        # it, the vault reads what the store holds now: the runs started after every change it must show.
        jobs, _ = await asyncio.gather(self.db.read(queue.with_events, leased), self._sync_vault(time.monotonic()))
        if any(job.action_id not in catalog.actions for job in jobs):
            await self.catalogs.get(force=True)
        return jobs

    async def _sync_vault(self, since: float) -> None:
        try:
            await self.runtime.vault.sync(since=since)
        except Exception:  # each job's prepare reads the vault again and fails the job with the reason
            log.warning("the credentials and resources could not be read", exc_info=True)

    async def _process(self, job: queue.Job) -> None:
        await self._run_job(job)
        if runs_log.isEnabledFor(logging.INFO):
            self._ending.add(job.story_run)

    async def _report_runs(self, stop: asyncio.Event) -> None:
        """Say once that a run has ended: twice a second, one read for every run a job finished in since.

        Off the jobs' path on purpose: a read per finished job, awaited in the job's slot, halved the
        worker's story runs/s on the reference workload (bench/README.md).
        """
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=REPORT_EVERY_SECONDS)
            runs = [run for run in self._ending if run not in self._reported_set]
            self._ending.clear()
            if not runs:
                continue
            try:
                outcomes = await self.db.read(run_outcomes, runs)
            except Exception:  # a line on the console is not worth stopping the worker for
                log.warning("could not read which runs ended", exc_info=True)
                continue
            for story_run, outcome in outcomes.items():
                if story_run not in self._reported_set:
                    if len(self._reported) == self._reported.maxlen:
                        self._reported_set.discard(self._reported[0])
                    self._reported.append(story_run)
                    self._reported_set.add(story_run)
                    self._report(story_run, outcome)

    def _report(self, story_run: str, outcome: dict[str, Any]) -> None:
        if outcome["failed"]:
            action, error = outcome["failed"][0]
            more = f" (and {len(outcome['failed']) - 1} more)" if len(outcome["failed"]) > 1 else ""
            runs_log.warning("run %s of %r failed: action %r: %s%s", story_run[:8], outcome["story"], action,
                             error[:300], more)
        else:
            runs_log.info("run %s of %r finished: %d events", story_run[:8], outcome["story"], outcome["events"])

    async def _run_job(self, job: queue.Job) -> None:
        catalog = self.catalogs.current
        action = catalog.actions.get(job.action_id)
        try:
            if action is None:
                raise ActionError(f"action {job.action_id} no longer exists")
            if catalog.story(action.story_id).disabled:
                if not await self.db.write(queue.hold, job, self.name):
                    await self.catalogs.get(force=True)  # enabled since the catalog was read: run it next
                return
            module = runnable(action.type)
            if module is None:
                raise ActionError(
                    f"action {action.name!r}: storyline cannot run {action.type} actions; the story was "
                    "imported with it unchanged (`storyline tines check` lists such actions)"
                )
            await self.runtime.prepare(action)
            if module.PURE and action.id in self.runtime.outside_writer:
                await self._run_outside_writer(catalog, module, action, job)
            elif module.PURE:
                try:
                    await self.db.write(queue.run_pure, catalog, self.runtime, job, self.name, time.time())
                except queue.OutsideWriter:
                    await self._run_outside_writer(catalog, module, action, job)
            else:
                ctx = self._context(action, job, recall=lambda bucket: self.db.read(queue.recall, action.id, bucket))
                result = await self._waiting_on_upstream(module.run(ctx))
                await self.db.write(queue.complete, catalog, self.runtime, job, self.name, result, time.time())
            self.completed += 1
        except queue.LeaseLost:
            log.warning("job %s was taken over by another worker; dropping this run's result", job.id)
        except Exception as exc:
            if not isinstance(exc, ActionError):
                log.exception("action %s failed unexpectedly", action.name if action else job.action_id)
            with contextlib.suppress(queue.LeaseLost):
                await self.db.write(
                    queue.retry_or_fail, job, self.name, exc, time.time(),
                    max_attempts=self.settings.max_attempts, base_seconds=self.settings.retry_base_seconds,
                    redact=self.runtime.redact,
                )

    async def _waiting_on_upstream(self, run: Awaitable[T]) -> T:
        """Await an I/O action: its job leaves the CPU-bound count, so the worker may start another."""
        self._waiting += 1
        self._wake.set()
        try:
            return await run
        finally:
            self._waiting -= 1

    def _context(self, action: ActionSpec, job: queue.Job, **extra: Any) -> RunContext:
        """What a job's action runs with outside the writer (pure jobs in the writer get theirs in queue)."""
        return self.runtime.context(
            action, job.payload, job.story_run, time.time(), attempt=job.attempts, job_state=job.state,
            event_id=job.event_id, **extra,
        )

    async def _run_outside_writer(
        self, catalog: Catalog, module: PureAction, action: ActionSpec, job: queue.Job
    ) -> None:
        """A pure action whose regex outran the writer's budget: every ack would wait on it there.

        It runs in a thread with the stories' whole regex limit (the regex package releases the
        GIL), then its result is recorded as any job's. Only the stateful modes, which must read
        and write their state in the recording transaction, stay in the writer, with the whole limit.
        """
        if module.needs_state(action.options):
            await self.db.write(queue.run_pure, catalog, self.runtime, job, self.name, time.time(), budgeted=False)
            return
        ctx = self._context(action, job)
        try:
            running = asyncio.get_running_loop().run_in_executor(self._outside_writer, module.run, ctx)
        except RuntimeError:  # the worker is stopping: as for a job cancelled in the queue, the lease lapses
            raise asyncio.CancelledError from None
        result = await running
        await self.db.write(queue.complete, catalog, self.runtime, job, self.name, result, time.time())

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        interval = self.settings.lease_seconds / 3
        while not stop.is_set():
            await asyncio.sleep(interval)
            if self._inflight:
                until = time.time() + self.settings.lease_seconds
                await self.db.write(queue.extend_leases, list(self._inflight), self.name, until)

    async def _reaper(self, stop: asyncio.Event) -> None:
        interval = max(0.5, self.settings.lease_seconds / 2)
        while not stop.is_set():
            if await self.db.write(queue.reap, time.time(), self.settings.max_attempts):
                self.wake()
            await asyncio.sleep(interval)

    async def _listen(self, stop: asyncio.Event) -> None:
        """PostgreSQL LISTEN in a thread: other processes' new jobs wake this worker at once."""
        loop = asyncio.get_running_loop()
        halt = threading.Event()

        def listen() -> None:
            import psycopg

            url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            while not halt.is_set():
                try:
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
                        while not halt.is_set():
                            for _ in conn.notifies(timeout=1.0, stop_after=1):
                                loop.call_soon_threadsafe(self._wake.set)
                except Exception:
                    log.warning("LISTEN connection lost; retrying", exc_info=True)
                    halt.wait(1.0)

        thread = threading.Thread(target=listen, name="storyline-listen", daemon=True)
        thread.start()
        try:
            await stop.wait()
        finally:
            halt.set()

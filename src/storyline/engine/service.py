"""One storyline process: database, catalog, egress, and optionally a worker and housekeeping.

``serve`` runs it next to the web app, with worker processes of its own (``workers``, see
``engine/supervisor.py``) or with the worker in this process; ``worker`` runs it without the
web app; ``run`` drives it in-process until a story run finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from storyline.config import Settings
from storyline.credentials.cipher import Cipher
from storyline.credentials.keys import BROWSER_KEY, derive, key_source, load_key
from storyline.credentials.logs import redact_logs
from storyline.credentials.vault import Vault
from storyline.egress.client import Egress
from storyline.egress.smtp import Mailer
from storyline.engine.catalog import CatalogCache
from storyline.engine.database import BRIEF_TRANSACTION_SECONDS, Database
from storyline.engine.retention import housekeeping
from storyline.engine.runtime import Runtime
from storyline.engine.scheduler import Scheduler
from storyline.engine.supervisor import Supervisor
from storyline.engine.worker import Worker
from storyline.store.db import make_engine, upgrade

log = logging.getLogger(__name__)


class Service:
    def __init__(
        self, settings: Settings, *, worker: bool = True, concurrency: int | None = None, workers: int = 0,
        worker_process: bool = False,
    ) -> None:
        """``worker``: run a worker (with housekeeping and the scheduler) in this process; ``workers``:
        run that many worker processes instead, supervised by this one. ``worker_process``: this process
        only runs a worker: its SQLite write transactions are kept brief, for the sake of the web process's."""
        self.settings = settings
        self.engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
        self.db = Database(self.engine, transaction_seconds=BRIEF_TRANSACTION_SECONDS if worker_process else None)
        self.catalogs = CatalogCache(self.db.read)
        self.egress: Egress | None = None
        self.runtime = Runtime(settings)
        self.worker: Worker | None = None
        self.supervisor = Supervisor(settings, workers, concurrency=concurrency) if workers > 0 else None
        self._want_worker = worker and workers == 0
        self._concurrency = concurrency
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[object]] = []
        self._unredact: Callable[[], None] = lambda: None
        self.browser_key = b""
        """Signs what the browser holds: session CSRF tokens, the login form's, the first admin's setup link."""

    async def start(self) -> None:
        upgrade(self.engine)
        key = load_key(self.settings.database_url)
        self.runtime.prompt_key = derive(key, "prompts")
        self.browser_key = derive(key, BROWSER_KEY)
        self.db.start()
        vault = Vault(Cipher(key, key_source(self.settings.database_url)), self.db.read)
        try:
            # A wrong key stops the process here, before anything runs or is written.
            await self.db.read(lambda conn: vault.refresh(conn, force=True))
        except Exception:
            self.db.stop()
            raise
        self.runtime.vault = vault
        self._unredact = redact_logs(self.runtime.redact)
        self.egress = Egress.from_settings(self.settings)
        self.runtime.egress = self.egress
        self.runtime.mailer = Mailer.from_settings(self.settings)
        await self.catalogs.get(force=True)
        if self._want_worker:
            self.worker = Worker(self.db, self.runtime, self.catalogs, self.settings, concurrency=self._concurrency)
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop)))
            self._tasks.append(asyncio.create_task(housekeeping(
                self.db, self._stop, audit_keep_days=self.settings.audit_keep_days,
                credential_uses=vault.take_uses)))
            if self.settings.scheduler:
                scheduler = Scheduler(self.db, self.catalogs, wake=self.wake)
                self._tasks.append(asyncio.create_task(scheduler.run(self._stop)))
        if self.supervisor is not None:
            await self.supervisor.start()

    def wake(self) -> None:
        """New jobs are committed: the worker that may run them should look now, not at its next poll."""
        if self.worker is not None:
            self.worker.wake()
        if self.supervisor is not None:
            self.supervisor.wake()

    def draining(self) -> None:
        """The process was told to stop (a signal handler may call this): start no worker process again."""
        if self.supervisor is not None:
            self.supervisor.draining()

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.egress is not None:
            await self.egress.aclose()
        self.db.stop()
        self.engine.dispose()
        self._unredact()

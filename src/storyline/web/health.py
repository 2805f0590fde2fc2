"""GET /healthz: ready when the database takes writes, since no webhook can be acknowledged otherwise.

A database that reads but does not write (a read-only file or replica, a full disk,
a lock nobody releases) leaves every webhook answering 503, so /healthz answers 503
too and names the check that failed, and a load balancer or orchestrator stops
sending requests here. The probe is one tiny write transaction through the writer
webhooks use, at most once per ``interval``: between probes the last answer stands,
and concurrent callers share one probe, so /healthz stays cheap under load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.engine.database import Database

PROBE_INTERVAL = 5.0
PROBE_TIMEOUT = 2.0

_TOUCH = sa.text("UPDATE alembic_version SET version_num = version_num")


def probe_write(conn: Connection) -> None:
    """Rewrite the schema revision with itself: a real committed write that changes no data."""
    conn.execute(_TOUCH)


class Readiness:
    def __init__(
        self, db: Database, *, interval: float = PROBE_INTERVAL, timeout: float = PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._checked_at: float | None = None
        self._problem: str | None = None
        self._probe: asyncio.Future[str | None] | None = None

    async def database(self) -> str | None:
        """None when the database took a write lately, else what went wrong (no SQL, no parameters)."""
        if self._checked_at is not None and self._clock() - self._checked_at < self._interval:
            return self._problem
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(self._probe), self._timeout)
        except TimeoutError:
            return f"a write did not commit within {self._timeout:g}s"

    async def _run(self) -> str | None:
        try:
            await self._db.write(probe_write)
            problem = None
        except sa.exc.SQLAlchemyError as exc:
            problem = f"does not take writes: {getattr(exc, 'orig', None) or type(exc).__name__}"
        except Exception as exc:
            problem = f"does not take writes: {type(exc).__name__}"
        finally:
            self._probe = None
        self._checked_at, self._problem = self._clock(), problem
        return problem

"""A story run's byte count (``story_runs.event_bytes``), held against STORYLINE_MAX_RUN_BYTES.

Every step that writes events adds their size to its run's count. Adding is an UPDATE of the
run's row, which on PostgreSQL keeps that row locked until the transaction ends, and the
batching writer then had to commit right after that step (``row_locked``) so that two of its
transactions would not each wait for a row the other holds: one commit per job, five of the
5.5 commits of a reference run.

So the batching writer defers them (``defer``): within its transaction a step reads the count
(no lock), checks the limit with what the transaction has already added, and notes its own
addition; ``write`` adds them all just before the commit, in the order of the runs' guids, so two
transactions lock run rows in the same order and never wait on each other in a circle. Two
transactions that grow the same run at once may each pass the check, so a run can go over its
limit by one step's events; the next step is refused. Outside the batching writer (and on
SQLite, whose one writer serialises everything) the count is added at once, as before.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.db import row_locked
from storyline.store.hot import Hot

_PENDING = "storyline.run_bytes"

_ADD = Hot(
    t.story_runs.update()
    .where(t.story_runs.c.guid == sa.bindparam("run"))
    .values(event_bytes=t.story_runs.c.event_bytes + sa.bindparam("size"))
    .returning(t.story_runs.c.event_bytes),
    ("run", "size"),
)
_READ = sa.select(t.story_runs.c.event_bytes).where(t.story_runs.c.guid == sa.bindparam("run"))


def defer(conn: Connection) -> None:
    """Add the counts of this transaction's steps at its end (``write``), not as each step runs."""
    conn.info[_PENDING] = {}


def add(conn: Connection, run: str, size: int) -> int | None:
    """Count ``size`` more bytes for ``run``; its count with them (None when the run is gone)."""
    pending: dict[str, int] | None = conn.info.get(_PENDING)
    if pending is None:
        total = _ADD.one(conn, {"run": run, "size": size})
        row_locked(conn)
        return None if total is None else int(total)
    stored = conn.execute(_READ, {"run": run}).scalar()
    pending[run] = pending.get(run, 0) + size
    return None if stored is None else int(stored) + pending[run]


def checkpoint(conn: Connection) -> Any:
    """What has been noted so far, to go back to when the operation after it is undone."""
    pending = conn.info.get(_PENDING)
    return None if pending is None else dict(pending)


def restore(conn: Connection, saved: Any) -> None:
    if saved is not None:
        conn.info[_PENDING] = saved


def write(conn: Connection) -> None:
    """Add what the transaction's steps counted, run by run in a fixed order; stop deferring."""
    pending: dict[str, int] | None = conn.info.pop(_PENDING, None)
    for run in sorted(pending or ()):
        if pending and pending[run]:
            _ADD.one(conn, {"run": run, "size": pending[run]})


def discard(conn: Connection) -> None:
    """The transaction was rolled back: nothing it counted happened."""
    conn.info.pop(_PENDING, None)

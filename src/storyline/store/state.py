"""ActionState kept in the ``action_state`` table, inside the caller's transaction.

Its statements are built once (implode, deduplicate and throttle run them for every event
they see, in the writer's transaction: building each statement anew took more CPU than
running it, measured on the security chatbot's burst in bench/README.md).
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.db import lock_key
from storyline.store.hot import Hot

_c = t.action_state.c
_APPEND = Hot(t.action_state.insert(), ("action_id", "bucket", "value", "created_at"))
_CLEAR = Hot(
    t.action_state.delete().where(_c.action_id == sa.bindparam("action_id"), _c.bucket == sa.bindparam("bucket")),
    ("action_id", "bucket"),
)


@functools.cache
def _items(limited: bool, since: bool) -> sa.Select[Any]:
    query = sa.select(_c.value).where(_c.action_id == sa.bindparam("action_id"), _c.bucket == sa.bindparam("bucket"))
    if since:
        query = query.where(_c.created_at >= sa.bindparam("since"))
    query = query.order_by(_c.id.desc())
    if limited:
        query = query.limit(sa.bindparam("limit"))
    return query


class SqlActionState:
    def __init__(self, conn: Connection, action_id: int, now: float) -> None:
        self.conn = conn
        self.action_id = action_id
        self.now = now
        self._locked: set[str] = set()

    def _lock(self, bucket: str) -> None:
        # Two PostgreSQL workers imploding into the same group must not both see
        # "one item short": a lock on the bucket orders them (and only them).
        if bucket not in self._locked:
            lock_key(self.conn, "state", self.action_id, bucket)
            self._locked.add(bucket)

    def append(self, bucket: str, value: Any) -> None:
        self._lock(bucket)
        _APPEND.run(self.conn, {"action_id": self.action_id, "bucket": bucket, "value": value, "created_at": self.now})

    def items(self, bucket: str, *, limit: int | None = None, since: float | None = None) -> list[Any]:
        self._lock(bucket)
        query = _items(limit is not None, since is not None)
        rows = self.conn.execute(
            query, {"action_id": self.action_id, "bucket": bucket, "limit": limit, "since": since}
        )
        return [row.value for row in rows][::-1]

    def clear(self, bucket: str) -> None:
        self._lock(bucket)
        _CLEAR.run(self.conn, {"action_id": self.action_id, "bucket": bucket})

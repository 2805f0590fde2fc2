"""ActionState kept in the ``action_state`` table, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.db import lock_key


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
        self.conn.execute(
            t.action_state.insert().values(
                action_id=self.action_id, bucket=bucket, value=value, created_at=self.now
            )
        )

    def items(self, bucket: str, *, limit: int | None = None, since: float | None = None) -> list[Any]:
        self._lock(bucket)
        c = t.action_state.c
        query = sa.select(c.value).where(c.action_id == self.action_id, c.bucket == bucket)
        if since is not None:
            query = query.where(c.created_at >= since)
        query = query.order_by(c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [row.value for row in self.conn.execute(query)][::-1]

    def clear(self, bucket: str) -> None:
        self._lock(bucket)
        c = t.action_state.c
        self.conn.execute(t.action_state.delete().where(c.action_id == self.action_id, c.bucket == bucket))

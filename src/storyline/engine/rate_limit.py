"""A webhook's ``rate_limit``: a sliding window of admitted requests, kept in the database.

The window lives in ``action_state`` (one row per admitted request) and is checked in
the same transaction that records the request, so every web node sharing a
PostgreSQL database enforces one limit together (a lock on the webhook's window is
held while counting), and a restart forgets nothing. Rows older than the window are
dropped as requests come in.
"""

from __future__ import annotations

import hashlib
import math

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.db import lock_key

BUCKET_PREFIX = "rate_limit:"


def admit(conn: Connection, action_id: int, key: str, count: int, period: float, now: float) -> int | None:
    """Count one request in the window, or return the seconds until one frees up when it is full."""
    lock_key(conn, "rate_limit", action_id)
    c = t.action_state.c
    conn.execute(
        t.action_state.delete().where(
            c.action_id == action_id, c.bucket.startswith(BUCKET_PREFIX), c.created_at <= now - period
        )
    )
    # Keys come from requests: hash them so any value fits the bucket column.
    bucket = BUCKET_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]
    used, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(c.created_at)).where(c.action_id == action_id, c.bucket == bucket)
    ).one()
    if used >= count:
        return max(1, math.ceil(oldest + period - now))
    conn.execute(t.action_state.insert().values(action_id=action_id, bucket=bucket, value=None, created_at=now))
    return None

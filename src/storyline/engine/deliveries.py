"""Deliveries a webhook has already recorded, so a sender's retries make no second event.

Chat platforms redeliver when they think a delivery failed (Slack retries an event up
to three times over about six minutes, even while the first is still being handled).
A verifier names what identifies a delivery (Slack's ``event_id``); the key is kept in
``action_state`` and checked in the transaction that records the request. Two web nodes
racing on the same retry record it once: on PostgreSQL the check takes a transaction
lock on that key alone (not on the webhook, which would queue every delivery behind
every other and, with batched writes, deadlock), and a restart forgets nothing. Keys
older than ``KEEP_SECONDS`` are dropped by retention (``storyline.engine.retention``).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.db import lock_key

BUCKET_PREFIX = "delivered:"
KEEP_SECONDS = 3600.0
"""Longer than any sender's retry schedule (Slack's last retry comes after about 6 minutes)."""


def seen(conn: Connection, action_id: int, key: str, now: float) -> bool:
    """Whether a delivery with ``key`` was recorded for this webhook within ``KEEP_SECONDS``."""
    bucket = _bucket(key)
    lock_key(conn, "delivery", action_id, bucket)
    c = t.action_state.c
    found = conn.execute(
        sa.select(c.id).where(c.action_id == action_id, c.bucket == bucket, c.created_at > now - KEEP_SECONDS).limit(1)
    )
    return found.first() is not None


def remember(conn: Connection, action_id: int, key: str, now: float) -> None:
    """Note a recorded delivery (in the transaction that recorded it; call ``seen`` first)."""
    conn.execute(
        t.action_state.insert().values(action_id=action_id, bucket=_bucket(key), value=None, created_at=now)
    )


def purge(conn: Connection, now: float) -> int:
    """Forget deliveries older than ``KEEP_SECONDS`` (retention calls this)."""
    c = t.action_state.c
    return conn.execute(
        t.action_state.delete().where(c.bucket.startswith(BUCKET_PREFIX), c.created_at <= now - KEEP_SECONDS)
    ).rowcount


def _bucket(key: str) -> str:
    # Keys come from requests: hash them so any value fits the bucket column.
    return BUCKET_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:40]

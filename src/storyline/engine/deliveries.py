"""Deliveries a webhook has already recorded, so a sender's retries make no second event.

Chat platforms redeliver when they think a delivery failed (Slack retries an event up
to three times over about six minutes, even while the first is still being handled).
A verifier names what identifies a delivery (Slack's ``event_id``); the key is kept in
``action_state`` and checked in the transaction that records the request, so two web
nodes racing on the same retry record it once (the webhook's action row is locked on
PostgreSQL), and a restart forgets nothing. Keys older than ``KEEP_SECONDS`` are
dropped as requests come in.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t

BUCKET_PREFIX = "delivered:"
KEEP_SECONDS = 3600.0
"""Longer than any sender's retry schedule (Slack's last retry comes after about 6 minutes)."""


def seen(conn: Connection, action_id: int, key: str, now: float) -> bool:
    """Whether a delivery with ``key`` was recorded for this webhook within ``KEEP_SECONDS``."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(t.actions.c.id).where(t.actions.c.id == action_id).with_for_update())
    c = t.action_state.c
    conn.execute(
        t.action_state.delete().where(
            c.action_id == action_id, c.bucket.startswith(BUCKET_PREFIX), c.created_at <= now - KEEP_SECONDS
        )
    )
    found = conn.execute(sa.select(c.id).where(c.action_id == action_id, c.bucket == _bucket(key)).limit(1))
    return found.first() is not None


def remember(conn: Connection, action_id: int, key: str, now: float) -> None:
    """Note a recorded delivery (in the transaction that recorded it; call ``seen`` first)."""
    conn.execute(
        t.action_state.insert().values(action_id=action_id, bucket=_bucket(key), value=None, created_at=now)
    )


def _bucket(key: str) -> str:
    # Keys come from requests: hash them so any value fits the bucket column.
    return BUCKET_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:40]

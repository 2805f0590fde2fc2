"""The audit log's SQL: who changed what, newest first, and its retention (``storyline.accounts.audit``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t

a = t.audit_log.c


def insert_entry(conn: Connection, now: float, actor: str, action: str, target: str, summary: str) -> None:
    conn.execute(t.audit_log.insert().values(created_at=now, actor=actor, action=action, target=target,
                                             summary=summary))


def list_entries(conn: Connection, limit: int, *, before_id: int | None = None, actor: str | None = None,
                 action: str | None = None) -> list[dict[str, Any]]:
    """Entries newest first (by id: the order they were written), after the filters given."""
    query = sa.select(a.id, a.created_at, a.actor, a.action, a.target, a.summary)
    for column, value in ((a.actor, actor), (a.action, action)):
        if value is not None:
            query = query.where(column == value)
    if before_id is not None:
        query = query.where(a.id < before_id)
    return [dict(row) for row in conn.execute(query.order_by(a.id.desc()).limit(limit)).mappings()]


def purge_entries(conn: Connection, before: float) -> int:
    return conn.execute(t.audit_log.delete().where(a.created_at < before)).rowcount

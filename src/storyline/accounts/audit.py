"""The audit log: who changed what, when, with a short before/after summary.

Actors are ``user:EMAIL`` and ``token:NAME`` (``Principal.actor``) or ``cli:OS_USER`` for the
command line, which works on the database directly. Callers record in the transaction that
makes the change, so an entry exists exactly when the change does. A summary never holds a
credential's value, a password or a token: say what kind of thing changed, not its content.
Entries are kept ``STORYLINE_AUDIT_KEEP_DAYS`` (engine/retention.py purges older ones).
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts.roles import Principal, Role
from storyline.store import audit as sql
from storyline.store.queries import iso

DAY = 86400.0
TARGET_LENGTH = 512
SUMMARY_LENGTH = 2000


def cli_actor() -> str:
    """The command line's actor: the operating-system user running it."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (a bare container)
        name = f"uid-{os.getuid()}"
    return f"cli:{name}"


def cli_principal() -> Principal:
    """The command line as a principal, so it runs the same operations as the API: whoever can run it
    reaches the database directly, so it may do anything an admin may."""
    return Principal("cli", cli_actor().removeprefix("cli:"), Role.ADMIN)


def record(conn: Connection, actor: str, action: str, target: str, summary: str, *,
           now: float | None = None) -> None:
    """Add an entry in the caller's transaction. ``action`` is ``<kind>.<verb>`` (``story.import``,
    ``credential.set``, ``user.add``); ``target`` names what changed."""
    sql.insert_entry(conn, time.time() if now is None else now, actor, action,
                     target[:TARGET_LENGTH], summary[:SUMMARY_LENGTH])


def entries(conn: Connection, limit: int = 100, *, before_id: int | None = None, actor: str | None = None,
            action: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (older than ``before_id``; by ``actor``; of ``action``), newest first,
    with their time as ISO 8601 (UTC)."""
    return [{"id": row["id"], "time": iso(row["created_at"]), "actor": row["actor"], "action": row["action"],
             "target": row["target"], "summary": row["summary"]}
            for row in sql.list_entries(conn, limit, before_id=before_id, actor=actor, action=action)]


def purge(conn: Connection, now: float, keep_days: float) -> int:
    """Drop entries older than ``keep_days``; returns how many."""
    return sql.purge_entries(conn, now - keep_days * DAY)


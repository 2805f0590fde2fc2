"""Signing in with a password: throttled per account and per client, every attempt audited.

A password can be guessed, so each failure is a ``login_failures`` row keyed ``account:EMAIL``
and ``client:ADDRESS``; past :data:`ACCOUNT_LIMIT` (or :data:`CLIENT_LIMIT`) failures within
:data:`WINDOW` seconds further attempts are refused before the password is checked, until the
oldest of them leaves the window. Rows, so every web node on one PostgreSQL throttles alike.
The per-account limit also lets a stranger keep one account's owner out for a while: the price
of making a guess at one password cost 15 minutes per handful, from anywhere.

Neither log lines nor audit entries ever hold the password tried.
"""

from __future__ import annotations

import logging
import math

from sqlalchemy.engine import Connection

from storyline.accounts import audit, sessions
from storyline.accounts.users import Login, store_rehash
from storyline.store import accounts as sql

log = logging.getLogger(__name__)

ACCOUNT_LIMIT = 5
CLIENT_LIMIT = 20
WINDOW = 15 * 60.0
"""Seconds a failure counts against its account and its client."""
_SHOWN = 254
"""Characters of a typed address kept in keys, logs and the audit log (an e-mail address's most)."""


def _account(email: str) -> str:
    return "account:" + email.strip().lower()[:_SHOWN]


def _client(address: str) -> str:
    return "client:" + address[:64]


def _wait(conn: Connection, key: str, limit: int, now: float) -> float:
    """Seconds until ``key`` has fewer than ``limit`` failures in the window (0: it has now)."""
    nth = sql.nth_newest_failure(conn, key, now - WINDOW, limit)
    return 0.0 if nth is None else nth + WINDOW - now


def retry_after(conn: Connection, email: str, client: str, *, now: float) -> int | None:
    """Seconds to wait before this account may be tried from this client again, or None: try now."""
    wait = max(_wait(conn, _account(email), ACCOUNT_LIMIT, now), _wait(conn, _client(client), CLIENT_LIMIT, now))
    return max(1, math.ceil(wait)) if wait > 0 else None


def succeeded(conn: Connection, login: Login, client: str, lifetime: sessions.Lifetime, *, now: float) -> str:
    """Start the user's session (returned, for the cookie), forgive the account's failures, audit."""
    store_rehash(conn, login, now)
    session_id = sessions.start(conn, login.user_id, lifetime, now=now)
    sql.clear_login_failures(conn, _account(login.principal.name))
    audit.record(conn, login.principal.actor, "login.success", login.principal.name, f"signed in from {client}",
                 now=now)
    return session_id


def failed(conn: Connection, email: str, client: str, *, now: float) -> None:
    """Count the failure against the account and the client, and audit it (the address, never the password)."""
    shown = email.strip().lower()[:_SHOWN]
    sql.insert_login_failures(conn, [_account(email), _client(client)], now)
    audit.record(conn, f"client:{client[:64]}", "login.failure", shown, "wrong e-mail address or password",
                 now=now)


def log_failure(email: str, client: str, *, throttled: bool = False) -> None:
    """One warning per failed or refused attempt (after its transaction: a retried one logs once)."""
    why = "refused, too many failures" if throttled else "wrong e-mail address or password"
    log.warning("sign-in %s for %r from %s", why, email.strip().lower()[:_SHOWN], client[:64])


def purge(conn: Connection, now: float) -> int:
    """Drop failures that no longer count (retention)."""
    return sql.purge_login_failures(conn, now - WINDOW)

"""Browser sessions: a random id in the ``storyline_session`` cookie, its SHA-256 in the ``sessions`` table.

Rows, not signed cookies, so that several web nodes on one PostgreSQL share them and signing out,
a new password or a removed user ends a session at once. A session ends after ``idle`` seconds
without a request and ``absolute`` seconds after sign-in, whichever comes first; its last request
is written at most once a :data:`LAST_SEEN_RESOLUTION`, not on every request, so idle expiry is
that much coarse. ``expires_at`` is when it would end if no request came, what retention purges by.

The CSRF token is derived from the session id (HMAC with the browser key, a sub-key of the
secret key), so it needs no column, dies with the session, and cannot be computed from the
stored digest. Whoever holds the token could read the page it was rendered into, which a
cross-site form cannot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from storyline.accounts.roles import Principal, parse_role
from storyline.store import accounts as sql

COOKIE = "storyline_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
LAST_SEEN_RESOLUTION = 60.0
"""Seconds: a session's last request is written at most this often."""
_ID_LENGTH = 43
"""Characters of a session id: 32 random bytes, URL-safe base64 without padding."""


@dataclass(frozen=True)
class Lifetime:
    """How long a session lasts: ``idle`` seconds without a request, ``absolute`` seconds in all."""

    idle: float
    absolute: float

    @classmethod
    def of(cls, idle_hours: float, max_days: float) -> Lifetime:
        return cls(idle=idle_hours * 3600.0, absolute=max_days * 86400.0)

    def expires_at(self, created_at: float, last_seen_at: float) -> float:
        return min(last_seen_at + self.idle, created_at + self.absolute)


@dataclass(frozen=True)
class Session:
    """A live session found by :func:`lookup`; ``stale``: its last request is due a write (:func:`touch`)."""

    principal: Principal
    id_hash: str
    created_at: float
    stale: bool


def hash_id(session_id: str) -> str:
    """The stored form of a session id (SHA-256, hex): 256 random bits need no slow hash (see tokens.hash_token)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(conn: Connection, user_id: int, lifetime: Lifetime, *, now: float) -> str:
    """A new session for the user; returns its id, for the cookie only (the table keeps its digest)."""
    session_id = secrets.token_urlsafe(32)
    sql.insert_session(conn, hash_id(session_id), user_id, now, lifetime.expires_at(now, now))
    return session_id


def lookup(conn: Connection, session_id: str, lifetime: Lifetime, *, now: float) -> Session | None:
    """The session's user, or None for an unknown, malformed or expired id; reads only."""
    if len(session_id) != _ID_LENGTH:
        return None
    row = sql.find_session(conn, hash_id(session_id))
    if row is None or now >= lifetime.expires_at(row.created_at, row.last_seen_at):
        return None
    try:
        role = parse_role(row.role)
    except ValueError:
        return None
    stale = now - row.last_seen_at >= LAST_SEEN_RESOLUTION
    return Session(Principal("user", row.email, role), row.id_hash, row.created_at, stale)


def touch(conn: Connection, session: Session, lifetime: Lifetime, *, now: float) -> None:
    """Record a request on the session (callers do so only when ``session.stale``)."""
    sql.touch_session(conn, session.id_hash, now, lifetime.expires_at(session.created_at, now),
                      now - LAST_SEEN_RESOLUTION)


def end(conn: Connection, session_id: str) -> bool:
    """Sign out: delete the session (whether or not it had expired)."""
    return sql.delete_session(conn, hash_id(session_id))


def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(key: bytes, session_id: str) -> str:
    """The session's CSRF token: pages put it in their forms, scripts send it as ``X-CSRF-Token``."""
    return _mac(key, "csrf", session_id)


def csrf_matches(key: bytes, session_id: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(key, session_id).encode(),
                                                         presented.encode(errors="replace"))


def form_token(key: bytes, nonce: str) -> str:
    """The login form's CSRF token, bound to the nonce in the form's own cookie (no session exists yet)."""
    return _mac(key, "login-form", nonce)


def form_token_matches(key: bytes, nonce: str | None, presented: str | None) -> bool:
    return (bool(nonce) and presented is not None
            and hmac.compare_digest(form_token(key, nonce or "").encode(), presented.encode(errors="replace")))

"""API tokens: for scripts and stories, sent as ``Authorization: Bearer stl_...``, each with a role.

A token is ``stl_`` and 43 characters of URL-safe base64 (256 random bits). The prefix lets
secret scanners find a leaked one (``stl_[A-Za-z0-9_-]{43}``) and lets storyline turn away
anything else without a query. The token is shown once, when it is made; only its digest is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts import audit
from storyline.accounts.roles import Principal, Role, parse_role
from storyline.accounts.users import AccountError
from storyline.store import accounts as sql
from storyline.store.queries import iso

PREFIX = "stl_"
_TOKEN = re.compile(r"^stl_[A-Za-z0-9_-]{43}$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
LAST_USED_RESOLUTION = 60.0
"""Seconds: last use is written at most this often per token, not on every request."""


def hash_token(token: str) -> str:
    """The token's stored form: SHA-256, hex.

    Not argon2, on purpose. A slow hash protects what people choose, which can be guessed; a
    token is 256 random bits that nobody can guess however fast each try is, so slowness buys
    nothing, while it would cost every API request tens of milliseconds of CPU and memory that
    anyone sending tokens could make the server spend. A deterministic digest also makes the
    lookup one indexed equality, with no per-row verify and no comparison in Python to time.
    No key is mixed in: it would tie every token to STORYLINE_SECRET_KEY (rotating the key would
    revoke them all) and add nothing at this entropy.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, name: str, role: Role | str, *, actor: str, now: float | None = None) -> str:
    """Create a token and return it: the only time it exists outside the caller's hands."""
    when = time.time() if now is None else now
    if not valid_name(name):
        raise AccountError(f"token name {name!r} must be 1 to 64 letters, digits, '_', '-' or '.'")
    rank = parse_role(role)
    if sql.token_exists(conn, name):
        raise AccountError(f"a token named {name!r} exists; revoke it first (`storyline token revoke {name}`) "
                           "or choose another name")
    token = PREFIX + secrets.token_urlsafe(32)
    sql.insert_token(conn, name, rank.value, hash_token(token), actor, when)
    audit.record(conn, actor, "token.create", name, f"role {rank}", now=when)
    return token


def list_tokens(conn: Connection, *, after: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Tokens by name (after ``after``, at most ``limit``): role, who made it, when, last use; never the
    token or its digest."""
    return [{"name": row.name, "role": row.role, "created_by": row.created_by, "created": iso(row.created_at),
             "last_used": iso(row.last_used_at)} for row in sql.list_tokens(conn, after=after, limit=limit)]


def valid_name(name: str) -> bool:
    """Whether ``name`` could name a token (1 to 64 letters, digits, '_', '-' or '.')."""
    return _NAME.fullmatch(name) is not None


def revoke_token(conn: Connection, name: str, *, actor: str) -> None:
    row = sql.delete_token(conn, name)
    if row is None:
        raise AccountError(f"no token named {name!r}; `storyline token list` shows them")
    audit.record(conn, actor, "token.revoke", name, f"role was {row.role}")


@dataclass(frozen=True)
class TokenUse:
    """A live token found by :func:`lookup_token`: who it acts as, and whether its last use is due a write."""

    principal: Principal
    token_id: int
    stale: bool


def lookup_token(conn: Connection, token: str, *, now: float | None = None) -> TokenUse | None:
    """The token's principal, or None for anything that is not a live token; reads only.

    The web layer looks tokens up on a read connection and calls :func:`record_use` in a write
    only when ``stale``: an API request does not queue behind the webhooks' writes to say so.
    """
    if not _TOKEN.fullmatch(token):
        return None
    row = sql.find_token(conn, hash_token(token))
    if row is None:
        return None
    try:
        role = parse_role(row.role)
    except ValueError:
        return None
    when = time.time() if now is None else now
    stale = row.last_used_at is None or row.last_used_at < when - LAST_USED_RESOLUTION
    return TokenUse(Principal("token", row.name, role), row.id, stale)


def record_use(conn: Connection, token_id: int, *, now: float | None = None) -> None:
    """Set the token's last use (at most once a LAST_USED_RESOLUTION)."""
    when = time.time() if now is None else now
    sql.touch_token(conn, token_id, when, when - LAST_USED_RESOLUTION)


def authenticate_token(conn: Connection, token: str, *, now: float | None = None) -> Principal | None:
    """:func:`lookup_token` and :func:`record_use` in one (write) transaction, for callers that have one."""
    use = lookup_token(conn, token, now=now)
    if use is None:
        return None
    if use.stale:
        record_use(conn, use.token_id, now=now)
    return use.principal

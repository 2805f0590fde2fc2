"""The first admin: a signed link that ``storyline serve`` prints while no user exists.

The link (``/setup?token=EXPIRES.SIGNATURE``) is signed with the browser key (a sub-key of the
secret key) and expires after :data:`LINK_SECONDS`. It works once: the setup page creates the
first admin only while there is no user at all, so after that every link, fresh or not, is refused.
Whoever holds the secret key could sign one, but they can read the database too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from sqlalchemy.engine import Connection

from storyline.accounts import sessions
from storyline.accounts.roles import Role
from storyline.accounts.users import AccountError, add_user
from storyline.store import accounts as sql

LINK_SECONDS = 3600
ACTOR = "setup:link"
"""How the audit log names whoever followed the link (they have no account until it is made)."""


def _signature(key: bytes, expires: int) -> str:
    digest = hmac.new(key, f"setup:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_token(key: bytes, *, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + LINK_SECONDS
    return f"{expires}.{_signature(key, expires)}"


def link(public_url: str, key: bytes, *, now: float | None = None) -> str:
    return f"{public_url}/setup?token={new_token(key, now=now)}"


def problem(key: bytes, token: str, *, now: float) -> str | None:
    """Why the token does not open the setup page (forged, altered, expired), or None: it does."""
    expires_text, _, signature = token.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12 or not hmac.compare_digest(
            _signature(key, int(expires_text)).encode(), signature.encode(errors="replace")):
        return "This setup link is not valid: it is incomplete or has been altered."
    if now >= int(expires_text):
        return "This setup link has expired. Restart `storyline serve` for a new one."
    return None


def needed(conn: Connection) -> bool:
    """Whether the first admin is still to be made (no user at all)."""
    return not sql.any_user(conn)


def create_first_admin(conn: Connection, email: str, password: str, lifetime: sessions.Lifetime, *,
                       now: float) -> str:
    """Create the first admin and sign them in (returns the session id); raises AccountError once any
    user exists, PasswordError for a password too short."""
    if not needed(conn):
        raise AccountError("storyline has users already; sign in, or ask an admin for an account")
    address = add_user(conn, email, Role.ADMIN, password, actor=ACTOR, now=now)
    user = sql.find_user(conn, address)
    assert user is not None  # added just now, in this transaction
    return sessions.start(conn, user.id, lifetime, now=now)


DEMO_EMAIL = "demo@localhost"


def demo_admin(conn: Connection, *, now: float | None = None) -> str | None:
    """``serve --demo``: make ``demo@localhost`` an admin with a new password when there is no user, and
    return that password (shown once, in the banner); None when users exist."""
    if not needed(conn):
        return None
    password = secrets.token_urlsafe(15)
    add_user(conn, DEMO_EMAIL, Role.ADMIN, password, actor="cli:serve --demo", now=now)
    return password

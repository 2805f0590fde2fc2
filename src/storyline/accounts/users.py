"""Users: people who sign in, each with a role. E-mail addresses are their names.

Every change is audited in the caller's transaction. There is always an admin once there
is one: the last admin can be neither removed nor demoted, so nobody locks the console.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts import audit
from storyline.accounts.passwords import (
    MAX_LENGTH,
    Hashed,
    dummy_hash,
    hashed,
    needs_rehash,
    rehash,
    verify_password,
)
from storyline.accounts.roles import Principal, Role, parse_role
from storyline.store import accounts as sql
from storyline.store.queries import iso

# Deliberately simple: something@something, no spaces or control characters. Whether the
# mailbox exists is the operator's business; `demo@localhost` is a fine address here.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
EMAIL_LENGTH = 254


class AccountError(ValueError):
    """A user or token change that cannot be made; the message says why and what to do."""


def normalise_email(email: str) -> str:
    """The address as stored: trimmed and lower-cased, so Alice@Example.com and alice@example.com are one user."""
    text = email.strip().lower()
    if len(text) > EMAIL_LENGTH or not _EMAIL.fullmatch(text):
        raise AccountError(f"{email!r} is not an e-mail address (name@domain)")
    return text


def _existing(conn: Connection, email: str) -> Any:
    address = normalise_email(email)
    user = sql.find_user(conn, address)
    if user is None:
        raise AccountError(f"no user {address}; `storyline user list` shows them")
    return user


def _keep_an_admin(conn: Connection, user: Any, doing: str) -> None:
    if user.role == Role.ADMIN and sql.count_admins(conn) <= 1:
        raise AccountError(f"{user.email} is the only admin and cannot be {doing}: make another user admin first "
                           "(`storyline user set-role EMAIL admin`)")


def add_user(conn: Connection, email: str, role: Role | str, password: str | Hashed, *, actor: str,
             now: float | None = None) -> str:
    """Create the user and return the address as stored; raises AccountError or PasswordError."""
    when = time.time() if now is None else now
    address, rank = normalise_email(email), parse_role(role)
    if sql.find_user(conn, address) is not None:
        raise AccountError(f"user {address} already exists; `storyline user set-password` or `set-role` change it")
    sql.insert_user(conn, address, rank.value, hashed(password), when)
    audit.record(conn, actor, "user.add", address, f"role {rank}", now=when)
    return address


def list_users(conn: Connection, *, after: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Users by address (after ``after``, at most ``limit``): their id, role and when they were created and
    last changed (never a hash)."""
    return [_listed(row) for row in sql.list_users(conn, after=after, limit=limit)]


def _listed(row: Any) -> dict[str, Any]:
    return {"id": row.id, "email": row.email, "role": row.role, "created": iso(row.created_at),
            "updated": iso(row.updated_at)}


def get_user(conn: Connection, email: str) -> dict[str, Any] | None:
    """The user with this (stored) address as :func:`list_users` shows them, or None."""
    rows = sql.list_users(conn, email=email)
    return _listed(rows[0]) if rows else None


def email_of(conn: Connection, user_id: int) -> str | None:
    """The address of the user with this id, or None."""
    row = sql.find_user_by_id(conn, user_id)
    return None if row is None else str(row.email)


def remove_user(conn: Connection, email: str, *, actor: str) -> str:
    user = _existing(conn, email)
    _keep_an_admin(conn, user, "removed")
    sql.delete_user(conn, user.email)
    audit.record(conn, actor, "user.remove", user.email, f"role was {user.role}")
    return str(user.email)


def set_password(conn: Connection, email: str, password: str | Hashed, *, actor: str,
                 now: float | None = None) -> str:
    """Replace the password and end the user's browser sessions (whoever knew the old one is signed out)."""
    when = time.time() if now is None else now
    user = _existing(conn, email)
    sql.update_user(conn, user.email, when, password_hash=hashed(password))
    ended = sql.end_sessions(conn, user.id)
    audit.record(conn, actor, "user.set_password", user.email,
                 "password changed" + (f"; {ended} browser sessions ended" if ended else ""), now=when)
    return str(user.email)


def set_role(conn: Connection, email: str, role: Role | str, *, actor: str, now: float | None = None) -> str:
    when = time.time() if now is None else now
    user, rank = _existing(conn, email), parse_role(role)
    if rank == user.role:
        return str(user.email)
    if rank != Role.ADMIN:
        _keep_an_admin(conn, user, "demoted")
    sql.update_user(conn, user.email, when, role=rank.value)
    audit.record(conn, actor, "user.set_role", user.email, f"role {user.role} -> {rank}", now=when)
    return str(user.email)


@dataclass(frozen=True)
class Login:
    """A user whose password checked out: who they are, their row, and a stronger hash to store, if due."""

    principal: Principal
    user_id: int
    rehashed: str | None


def verify_login(conn: Connection, email: str, password: str) -> Login | None:
    """The user whose address and password these are, or None, taking as long when there is no such user.

    Reads only, so the web layer runs it (and argon2's tens of milliseconds) on a reader, not the
    writer every webhook waits for. Failures are the caller's to log and throttle, never with the password.
    """
    try:
        address = normalise_email(email)
    except AccountError:
        return None
    if len(password) > MAX_LENGTH:
        return None
    user = sql.find_user(conn, address)
    if user is None:
        verify_password(dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    try:
        role = parse_role(user.role)
    except ValueError:
        return None
    stronger = rehash(password) if needs_rehash(user.password_hash) else None
    return Login(Principal("user", address, role), user.id, stronger)


def store_rehash(conn: Connection, login: Login, now: float) -> None:
    """Keep the stronger hash :func:`verify_login` made (a hash made with weaker parameters than today's)."""
    if login.rehashed is not None:
        sql.update_user(conn, login.principal.name, now, password_hash=login.rehashed)


def check_login(conn: Connection, email: str, password: str, *, now: float | None = None) -> Principal | None:
    """:func:`verify_login` and :func:`store_rehash` in one (write) transaction, for callers that have one."""
    login = verify_login(conn, email, password)
    if login is None:
        return None
    store_rehash(conn, login, time.time() if now is None else now)
    return login.principal

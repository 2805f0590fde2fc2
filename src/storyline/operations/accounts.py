"""Users, API tokens and the audit log, as an admin manages them over the API (and, next, the console).

The changes themselves, and their audit entries, are ``storyline.accounts``' (the CLI makes them
too); this module checks the role, finds who is meant, and turns what cannot be done into the
right error. Nothing answered holds a password hash, a token's digest, or a token but once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts import audit, passwords, tokens, users
from storyline.accounts.passwords import Hashed, PasswordError
from storyline.accounts.roles import Permission, Principal, Role
from storyline.operations.access import require
from storyline.operations.errors import Conflict, Invalid, NotFound
from storyline.operations.paging import MAX_ROW_ID, Page, PageRequest, paginate


def _user(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "role": row["role"], "admin": row["role"] == Role.ADMIN,
            "created_at": row["created"], "updated_at": row["updated"]}


def list_users(conn: Connection, principal: Principal | None, page: PageRequest) -> Page:
    require(principal, Permission.USERS_MANAGE)
    rows = users.list_users(conn, after=page.after, limit=page.per_page + 1)
    return paginate([_user(row) for row in rows], page, key="email")


def _shown(conn: Connection, email: str) -> dict[str, Any]:
    found = users.get_user(conn, email)
    assert found is not None  # just written in this transaction
    return _user(found)


def _address(conn: Connection, ref: str) -> str:
    """The stored address of the user ``ref`` names (an id, or an address in any case); 404 otherwise."""
    address: str | None = None
    if ref.isascii() and ref.isdigit():
        address = users.email_of(conn, int(ref)) if int(ref) <= MAX_ROW_ID else None
    else:
        try:
            address = users.normalise_email(ref)
        except users.AccountError:
            address = None
    if address is None or users.get_user(conn, address) is None:
        raise NotFound(f"no user {ref!r}; GET /api/v1/users lists them")
    return address


def add_user(conn: Connection, principal: Principal | None, email: str, role: Role, password: Hashed
             ) -> dict[str, Any]:
    who = require(principal, Permission.USERS_MANAGE)
    try:
        address = users.normalise_email(email)
    except users.AccountError as exc:
        raise Invalid(str(exc), {"field": "email"}) from None
    try:
        users.add_user(conn, address, role, password, actor=who.actor)
    except users.AccountError as exc:
        raise Conflict(str(exc)) from None
    return _shown(conn, address)


def update_user(conn: Connection, principal: Principal | None, ref: str, role: Role | None,
                password: Hashed | None) -> dict[str, Any]:
    """Change the role and/or the password (which ends the user's browser sessions)."""
    who = require(principal, Permission.USERS_MANAGE)
    address = _address(conn, ref)
    try:
        if role is not None:
            users.set_role(conn, address, role, actor=who.actor)
        if password is not None:
            users.set_password(conn, address, password, actor=who.actor)
    except users.AccountError as exc:
        raise Conflict(str(exc)) from None
    return _shown(conn, address)


def remove_user(conn: Connection, principal: Principal | None, ref: str) -> None:
    who = require(principal, Permission.USERS_MANAGE)
    address = _address(conn, ref)
    try:
        users.remove_user(conn, address, actor=who.actor)
    except users.AccountError as exc:
        raise Conflict(str(exc)) from None


def hash_password(password: str) -> Hashed:
    """The password checked and hashed (422 naming the field if storyline will not take it).

    Call it before the write: argon2id takes tens of milliseconds the database writer must not wait.
    """
    try:
        return Hashed(passwords.hash_password(password))
    except PasswordError as exc:
        raise Invalid(str(exc), {"field": "password"}) from None


def _token(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "role": row["role"], "created_by": row["created_by"],
            "created_at": row["created"], "last_used_at": row["last_used"]}


def list_tokens(conn: Connection, principal: Principal | None, page: PageRequest) -> Page:
    require(principal, Permission.TOKENS_MANAGE)
    rows = tokens.list_tokens(conn, after=page.after, limit=page.per_page + 1)
    return paginate([_token(row) for row in rows], page, key="name")


def create_token(conn: Connection, principal: Principal | None, name: str, role: Role) -> dict[str, Any]:
    """A new token, answered this once: only its digest is kept."""
    who = require(principal, Permission.TOKENS_MANAGE)
    if not tokens.valid_name(name):
        raise Invalid("a token name is 1 to 64 letters, digits, '_', '-' or '.'", {"field": "name"})
    try:
        token = tokens.create_token(conn, name, role, actor=who.actor)
    except users.AccountError as exc:
        raise Conflict(str(exc)) from None
    return {"name": name, "role": str(role), "token": token}


def revoke_token(conn: Connection, principal: Principal | None, name: str) -> None:
    who = require(principal, Permission.TOKENS_MANAGE)
    if not tokens.valid_name(name):
        raise NotFound(f"no token named {name!r}; GET /api/v1/tokens lists them")
    try:
        tokens.revoke_token(conn, name, actor=who.actor)
    except users.AccountError:
        raise NotFound(f"no token named {name!r}; GET /api/v1/tokens lists them") from None


def audit_entries(conn: Connection, principal: Principal | None, page: PageRequest, actor: str | None,
                  action: str | None) -> Page:
    require(principal, Permission.AUDIT_READ)
    rows = audit.entries(conn, page.per_page + 1, before_id=page.after, actor=actor, action=action)
    return paginate([{"id": row["id"], "created_at": row["time"], "actor": row["actor"], "action": row["action"],
                      "target": row["target"], "summary": row["summary"]} for row in rows], page)

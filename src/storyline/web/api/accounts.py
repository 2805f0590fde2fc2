"""``/api/v1/users``, ``/api/v1/tokens`` and ``/api/v1/audit_logs``: who may act, and what they did (admins)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from storyline.accounts.passwords import MAX_LENGTH
from storyline.accounts.roles import Permission, Role
from storyline.operations import accounts
from storyline.operations.errors import Invalid
from storyline.operations.paging import page_request
from storyline.web.api.endpoint import Call, Endpoint
from storyline.web.api.stories import PageQuery

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, description="The address they sign in with")
    role: Role
    password: str = Field(max_length=MAX_LENGTH, description="At least 12 characters; stored as an argon2id hash")


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    password: str | None = Field(default=None, max_length=MAX_LENGTH,
                                 description="A new password ends the user's browser sessions")


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, description="1 to 64 letters, digits, '_', '-' or '.'")
    role: Role


class AuditQuery(PageQuery):
    actor: str | None = Field(default=None, max_length=330, pattern=PRINTABLE,
                              description="Only entries by this actor: user:EMAIL, token:NAME or cli:OS_USER")
    action: str | None = Field(default=None, max_length=64, pattern=PRINTABLE,
                               description="Only entries of this kind: story.import, user.add, event.reemit, ...")


def _page(call: Call) -> Any:
    return page_request(call.query.cursor, call.query.per_page, str)


async def _hashed(password: str) -> Any:
    # argon2id off the event loop and before the database writer (see operations.accounts.hash_password).
    return await asyncio.to_thread(accounts.hash_password, password)


async def list_users(call: Call) -> Any:
    return await call.service.db.read(accounts.list_users, call.principal, _page(call))


async def add_user(call: Call) -> Any:
    body = call.body
    return await call.service.db.write(accounts.add_user, call.principal, body.email, body.role,
                                       await _hashed(body.password))


async def update_user(call: Call) -> Any:
    body = call.body
    if body.role is None and body.password is None:
        raise Invalid("send a role, a password or both", {"fields": ["role", "password"]})
    password = None if body.password is None else await _hashed(body.password)
    return await call.service.db.write(accounts.update_user, call.principal, call.path["user"], body.role, password)


async def remove_user(call: Call) -> Any:
    await call.service.db.write(accounts.remove_user, call.principal, call.path["user"])
    return Response(status_code=204)


async def list_tokens(call: Call) -> Any:
    return await call.service.db.read(accounts.list_tokens, call.principal, _page(call))


async def create_token(call: Call) -> Any:
    return await call.service.db.write(accounts.create_token, call.principal, call.body.name, call.body.role)


async def revoke_token(call: Call) -> Any:
    await call.service.db.write(accounts.revoke_token, call.principal, call.path["name"])
    return Response(status_code=204)


async def audit_logs(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(accounts.audit_entries, call.principal, page, call.query.actor,
                                      call.query.action)


ENDPOINTS = [
    Endpoint("GET", "/users", Permission.USERS_MANAGE, list_users, "List users", query=PageQuery,
             collection="users", tines="GET /api/v1/admin/users (here /users; role instead of admin + permissions)"),
    Endpoint("POST", "/users", Permission.USERS_MANAGE, add_user, "Add a user", body=NewUser, status=201,
             tines="POST /api/v1/admin/users (storyline takes a password and a role; no names, no invitation)"),
    Endpoint("PUT", "/users/{user}", Permission.USERS_MANAGE, update_user, "Change a user's role or password",
             body=UserChange, tines="PUT /api/v1/admin/users/{user_id} (by id or e-mail address)"),
    Endpoint("DELETE", "/users/{user}", Permission.USERS_MANAGE, remove_user, "Remove a user", status=204,
             tines="DELETE /api/v1/admin/users/{user_id} (by id or e-mail address)"),
    Endpoint("GET", "/tokens", Permission.TOKENS_MANAGE, list_tokens, "List API tokens (never a token)",
             query=PageQuery, collection="tokens", tines="no Tines twin (Tines manages API keys in its UI)"),
    Endpoint("POST", "/tokens", Permission.TOKENS_MANAGE, create_token, "Create an API token: answered once",
             body=NewToken, status=201, tines="no Tines twin"),
    Endpoint("DELETE", "/tokens/{name}", Permission.TOKENS_MANAGE, revoke_token, "Revoke an API token",
             status=204, tines="no Tines twin"),
    Endpoint("GET", "/audit_logs", Permission.AUDIT_READ, audit_logs, "The audit log, newest first",
             query=AuditQuery, collection="audit_logs",
             tines="GET /api/v1/audit_logs (actor and action instead of user_id and operation_name; "
                   "target and summary instead of inputs; no before/after, request_ip)"),
]

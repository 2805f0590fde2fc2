"""``/api/v1/user_credentials``: list (never a value), set or rotate, delete. Admins only.

The body follows Tines' (``name``, ``mode``, ``value``, ``allowed_hosts``; ``oauth_*`` for OAuth2);
fields Tines has and storyline does not (``team_id``, ``folder_id``, ``read_access`` ...) are
accepted and ignored, so a Tines script's body needs no change. The value is write-only: no answer
and no error repeats it (pydantic's errors are answered without their input).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from storyline.accounts.roles import Permission
from storyline.credentials import model
from storyline.credentials.cipher import Cipher
from storyline.operations import credentials
from storyline.operations.errors import Invalid
from storyline.operations.paging import page_request
from storyline.web.api.endpoint import Call, Endpoint, json_response
from storyline.web.api.stories import PageQuery

Text = Annotated[str, Field(max_length=8192)]
Host = Annotated[str, Field(max_length=253)]


class CredentialBody(BaseModel):
    """Tines' create body. ``mode`` TEXT needs ``value``; OAUTH needs ``oauth_token_url``,
    ``oauth_client_id`` and ``oauth_client_secret`` (client-credentials grant);
    HTTP_REQUEST_AGENT needs ``http_request_options`` and ``http_request_location_of_token``."""

    name: str = Field(max_length=255)
    mode: Literal["TEXT", "OAUTH", "HTTP_REQUEST_AGENT"] = "TEXT"
    value: str | None = Field(default=None, max_length=65536)
    allowed_hosts: list[Host] | None = Field(default=None, max_length=100)
    oauth_token_url: Text | None = None
    oauth_url: Text | None = None
    oauth_client_id: Text | None = None
    oauth_client_secret: Text | None = None
    oauth_scope: Text | None = None
    oauth_grant_type: Literal["client_credentials"] | None = None
    http_request_options: dict[str, Any] | None = None
    http_request_location_of_token: Text | None = None
    http_request_ttl: float = Field(default=model.DEFAULT_TTL, gt=0, le=366 * 86400)


def credential_of(body: CredentialBody) -> model.Credential:
    """The credential the body describes, checked as ``storyline credential set`` checks it."""
    hosts = body.allowed_hosts
    try:
        if body.mode == "TEXT":
            return model.text(body.name, body.value or "", allowed_hosts=hosts)
        if body.mode == "OAUTH":
            return model.oauth2(body.name, token_url=body.oauth_token_url or body.oauth_url or "",
                                client_id=body.oauth_client_id or "", client_secret=body.oauth_client_secret or "",
                                scope=body.oauth_scope, allowed_hosts=hosts)
        return model.http_request(body.name, options=body.http_request_options or {},
                                  token_path=body.http_request_location_of_token or "",
                                  ttl=body.http_request_ttl, allowed_hosts=hosts)
    except ValueError as exc:
        # The model's messages name the option, never a value (tests/.../test_api_secrets.py).
        raise Invalid(str(exc).replace("--", ""), {"mode": body.mode}) from None


def cipher_of(call: Call) -> Cipher:
    cipher = call.service.runtime.vault.cipher
    if cipher is None:
        raise RuntimeError("the service has not started: no credential key loaded")
    return cipher


async def list_credentials(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(credentials.list_credentials, call.principal, page)


async def set_credential(call: Call) -> Any:
    credential = credential_of(call.body)
    shown, created = await call.service.db.write(credentials.set_credential, call.principal, cipher_of(call),
                                                 credential, time.time())
    call.service.runtime.vault.expire()
    return json_response(shown, 201 if created else 200)


async def delete_credential(call: Call) -> Any:
    await call.service.db.write(credentials.delete_credential, call.principal, call.path["ref"])
    call.service.runtime.vault.expire()
    return Response(status_code=204)


ENDPOINTS = [
    Endpoint("GET", "/user_credentials", Permission.CREDENTIALS_READ, list_credentials,
             "List credentials: names, modes, allowed hosts and times, never a value", query=PageQuery,
             collection="user_credentials", tines="GET /api/v1/user_credentials (cursor instead of page numbers; "
             "adds kind and last_used_at; no team, folder or metadata)"),
    Endpoint("POST", "/user_credentials", Permission.CREDENTIALS_WRITE, set_credential,
             "Create a credential, or rotate the one with that name (201 created, 200 replaced)",
             body=CredentialBody, status=201,
             tines="POST /api/v1/user_credentials (modes TEXT, OAUTH with client_credentials, HTTP_REQUEST_AGENT; "
             "an existing name is replaced instead of refused; team_id, folder_id, read_access ignored)"),
    Endpoint("DELETE", "/user_credentials/{ref}", Permission.CREDENTIALS_WRITE, delete_credential,
             "Delete a credential by id or name (204)", status=204,
             tines="DELETE /api/v1/user_credentials/{credential_id} (a name works too)"),
]

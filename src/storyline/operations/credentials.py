"""Credentials as the API and the CLI change them: set (create or rotate), list, delete, audited.

The CLI (``storyline credential``) and ``/api/v1/user_credentials`` both come here, so a change
is checked, saved and audited one way whoever makes it. Nothing here returns or records a value:
lists show names, kinds, allowed hosts and times; the audit log says what kind of change it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts import audit
from storyline.accounts.roles import Permission, Principal
from storyline.credentials import stored
from storyline.credentials.cipher import Cipher
from storyline.credentials.model import Credential
from storyline.operations.access import require
from storyline.operations.errors import NotFound
from storyline.operations.paging import Page, PageRequest, paginate
from storyline.store.queries import iso

MODES = {"text": "TEXT", "oauth2": "OAUTH", "http_request": "HTTP_REQUEST_AGENT"}
"""storyline's kinds and Tines' credential ``mode`` for each."""


def save(conn: Connection, actor: str, cipher: Cipher, credential: Credential, now: float) -> bool:
    """Create or replace ``credential``, audited as ``actor``; True when it is new."""
    existed = bool(stored.credential_page(conn, after_id=None, limit=1, name=credential.name))
    stored.save_credential(conn, cipher, credential, now)
    hosts = ", ".join(credential.allowed_hosts) or "any"
    audit.record(conn, actor, "credential.set", credential.name,
                 f"{'replaced' if existed else 'created'}: {credential.kind}, allowed hosts {hosts}", now=now)
    return not existed


def remove(conn: Connection, actor: str, ref: str) -> dict[str, Any]:
    """Delete the credential ``ref`` names (its id, or its name), audited as ``actor``; NotFound if none."""
    row = _one(conn, ref)
    stored.delete_credential(conn, row["name"])
    audit.record(conn, actor, "credential.delete", row["name"], f"deleted ({row['kind']})")
    return _shown(row)


def _one(conn: Connection, ref: str) -> dict[str, Any]:
    number = int(ref) if ref.isdigit() and len(ref) < 10 else None
    rows = stored.credential_page(conn, after_id=None, limit=2, name=ref, credential_id=number)
    if not rows:
        raise NotFound(f"no credential {ref!r}; GET /api/v1/user_credentials lists them",
                       {"parameter": "credential"})
    # A name made of digits may also be another credential's id: the id wins, as in Tines' paths.
    return next((row for row in rows if str(row["id"]) == ref), rows[0])


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "mode": MODES.get(row["kind"], row["kind"].upper()),
            "kind": row["kind"], "allowed_hosts": row["allowed_hosts"], "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]), "last_used_at": iso(row["last_used_at"])}


def list_credentials(conn: Connection, principal: Principal | None, page: PageRequest) -> Page:
    require(principal, Permission.CREDENTIALS_READ)
    rows = stored.credential_page(conn, after_id=page.after, limit=page.per_page + 1)
    return paginate([_shown(row) for row in rows], page)


def set_credential(conn: Connection, principal: Principal | None, cipher: Cipher, credential: Credential,
                   now: float) -> tuple[dict[str, Any], bool]:
    """The credential as listed after the change, and whether it is new."""
    who = require(principal, Permission.CREDENTIALS_WRITE)
    created = save(conn, who.actor, cipher, credential, now)
    row = stored.credential_page(conn, after_id=None, limit=1, name=credential.name)[0]
    return _shown(row), created


def delete_credential(conn: Connection, principal: Principal | None, ref: str) -> dict[str, Any]:
    who = require(principal, Permission.CREDENTIALS_WRITE)
    return remove(conn, who.actor, ref)

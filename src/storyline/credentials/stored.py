"""The credentials table: secret parts sealed (``cipher.py``), settings in plain JSON.

Every function takes a ``Connection`` and leaves the transaction to the caller, as
``storyline.store`` does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.credentials.cipher import Cipher
from storyline.credentials.model import Credential
from storyline.store import tables as t


def save_credential(conn: Connection, cipher: Cipher, credential: Credential, now: float) -> None:
    """Create or replace; refuses (``CredentialKeyError``) when the key does not open the stored ones."""
    load_credentials(conn, cipher)
    c = t.credentials.c
    values = {
        "kind": credential.kind,
        "secret": cipher.seal(credential.name, credential.secret),
        "settings": dict(credential.settings),
        "updated_at": now,
    }
    updated = conn.execute(t.credentials.update().where(c.name == credential.name).values(**values)).rowcount
    if not updated:
        conn.execute(t.credentials.insert().values(name=credential.name, created_at=now, **values))


def delete_credential(conn: Connection, name: str) -> bool:
    return conn.execute(t.credentials.delete().where(t.credentials.c.name == name)).rowcount > 0


def credential_page(conn: Connection, *, after_id: int | None, limit: int, name: str | None = None,
                    credential_id: int | None = None) -> list[dict[str, Any]]:
    """Credentials by id (after ``after_id``), or those with this ``name`` or ``credential_id``:
    what the API lists, with the times, never a secret part."""
    c = t.credentials.c
    query = sa.select(c.id, c.name, c.kind, c.settings, c.created_at, c.updated_at, c.last_used_at)
    wanted = [c.name == name] if name is not None else []
    if credential_id is not None:
        wanted.append(c.id == credential_id)
    if wanted:
        query = query.where(sa.or_(*wanted))
    if after_id is not None:
        query = query.where(c.id > after_id)
    rows = conn.execute(query.order_by(c.id).limit(limit)).mappings()
    return [{**row, "allowed_hosts": list((row["settings"] or {}).get("allowed_hosts") or [])} for row in rows]


def record_uses(conn: Connection, used: dict[str, float]) -> None:
    """Remember when runs last rendered these credentials (name -> time); not a change (``version``)."""
    c = t.credentials.c
    for name, when in used.items():
        conn.execute(t.credentials.update().where(c.name == name).values(last_used_at=when))


def list_credentials(conn: Connection) -> list[dict[str, Any]]:
    """Names, kinds and where they may be sent: never a secret part."""
    c = t.credentials.c
    rows = conn.execute(sa.select(c.name, c.kind, c.settings, c.updated_at).order_by(c.name)).all()
    return [
        {"name": row.name, "kind": row.kind, "allowed_hosts": list((row.settings or {}).get("allowed_hosts") or [])}
        for row in rows
    ]


def load_credentials(conn: Connection, cipher: Cipher) -> dict[str, Credential]:
    c = t.credentials.c
    rows = conn.execute(sa.select(c.name, c.kind, c.secret, c.settings)).all()
    return {
        row.name: Credential(row.name, row.kind, cipher.open(row.name, bytes(row.secret)), row.settings or {})
        for row in rows
    }


def version(conn: Connection) -> tuple[object, ...]:
    """Changes when a credential or resource is set or deleted (see ``vault.py``)."""
    out: list[object] = []
    for table in (t.credentials, t.resources):
        out.extend(conn.execute(sa.select(sa.func.count(), sa.func.max(table.c.updated_at))).one())
    return tuple(out)

"""Resources: named values shared by every story (``{% global_resource x %}``, ``RESOURCE.x``).

Unlike credentials they are not secret: they are stored as plain JSON and shown by
``storyline resource list``.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.store import tables as t

# Tines resource names may hold dots ({% global_resource imap.example.com %}).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def save_resource(conn: Connection, name: str, value: Any, now: float) -> None:
    if not _NAME.match(name or ""):
        raise ValueError(f"resource name {name!r} must be letters, digits, '_', '-' or '.'")
    r = t.resources.c
    # Wrapped so a JSON null, number or string survives the JSON column unchanged.
    stored = {"value": value}
    if not conn.execute(t.resources.update().where(r.name == name).values(value=stored, updated_at=now)).rowcount:
        conn.execute(t.resources.insert().values(name=name, value=stored, created_at=now, updated_at=now))


def delete_resource(conn: Connection, name: str) -> bool:
    return conn.execute(t.resources.delete().where(t.resources.c.name == name)).rowcount > 0


def load_resources(conn: Connection) -> dict[str, Any]:
    r = t.resources.c
    return {row.name: (row.value or {}).get("value") for row in conn.execute(sa.select(r.name, r.value))}


def list_resources(conn: Connection) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in sorted(load_resources(conn).items())]

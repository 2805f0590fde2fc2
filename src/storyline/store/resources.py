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


NAME_LENGTH = 255


def check_name(name: str) -> str:
    if not _NAME.match(name or "") or len(name) > NAME_LENGTH:
        raise ValueError(f"resource name {name[:NAME_LENGTH]!r} must be letters, digits, '_', '-' or '.' "
                         f"(at most {NAME_LENGTH})")
    return name


def save_resource(conn: Connection, name: str, value: Any, now: float) -> None:
    check_name(name)
    r = t.resources.c
    # Wrapped so a JSON null, number or string survives the JSON column unchanged.
    stored = {"value": value}
    if not conn.execute(t.resources.update().where(r.name == name).values(value=stored, updated_at=now)).rowcount:
        conn.execute(t.resources.insert().values(name=name, value=stored, created_at=now, updated_at=now))


def replace_resource(conn: Connection, resource_id: int, name: str, value: Any, now: float) -> bool:
    """Give the resource ``resource_id`` this name and value; False when there is none."""
    check_name(name)
    r = t.resources.c
    return conn.execute(t.resources.update().where(r.id == resource_id)
                        .values(name=name, value={"value": value}, updated_at=now)).rowcount > 0


def delete_resource_id(conn: Connection, resource_id: int) -> bool:
    return conn.execute(t.resources.delete().where(t.resources.c.id == resource_id)).rowcount > 0


def resource_page(conn: Connection, *, after_id: int | None, limit: int, name: str | None = None,
                  resource_id: int | None = None) -> list[dict[str, Any]]:
    """Resources by id (after ``after_id``), or the one with this ``name`` or ``resource_id``."""
    r = t.resources.c
    query = sa.select(r.id, r.name, r.value, r.created_at, r.updated_at)
    if name is not None:
        query = query.where(r.name == name)
    if resource_id is not None:
        query = query.where(r.id == resource_id)
    if after_id is not None:
        query = query.where(r.id > after_id)
    rows = conn.execute(query.order_by(r.id).limit(limit)).mappings()
    return [{**row, "value": (row["value"] or {}).get("value")} for row in rows]


def delete_resource(conn: Connection, name: str) -> bool:
    return conn.execute(t.resources.delete().where(t.resources.c.name == name)).rowcount > 0


def load_resources(conn: Connection) -> dict[str, Any]:
    r = t.resources.c
    return {row.name: (row.value or {}).get("value") for row in conn.execute(sa.select(r.name, r.value))}


def list_resources(conn: Connection) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in sorted(load_resources(conn).items())]

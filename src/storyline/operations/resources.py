"""Global resources as the API and the CLI change them: Tines' shapes, audited, one way for both.

A resource is a named value stories read as ``RESOURCE.name``. Tines keeps a ``value_type``
(``text`` or ``json``) and answers a value as text unless asked for ``typed_value=true``;
storyline stores the typed value and derives both from it, so ``storyline resource set`` and
``POST /api/v1/global_resources`` make the same thing.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.engine import Connection

from storyline import jsondata
from storyline.accounts import audit
from storyline.accounts.roles import Permission, Principal
from storyline.operations.access import require
from storyline.operations.errors import Conflict, Invalid, NotFound
from storyline.operations.paging import Page, PageRequest, paginate
from storyline.store import resources as sql
from storyline.store.queries import iso

ValueType = Literal["text", "json"]
MAX_VALUE_BYTES = 1024 * 1024
"""A resource is held in memory by every process and read by every run: 1 MiB as JSON at most."""


def value_type_of(value: Any) -> ValueType:
    return "text" if isinstance(value, str) else "json"


def text_of(value: Any) -> str:
    """Tines' default answer: a text resource's text, a JSON one written as JSON."""
    return value if isinstance(value, str) else jsondata.dumps(value)


def typed(value: Any, value_type: ValueType | None) -> Any:
    """What to store for Tines' ``value`` and ``value_type``. As in Tines, a string that holds a JSON
    object or array is a JSON resource unless ``value_type`` says text; any other string is text."""
    if value_type == "text":
        stored = text_of(value)
    elif isinstance(value, str):
        parsed = _json_in(value)
        if value_type == "json" and parsed is None:
            raise Invalid("value_type is json, but the value is not a JSON object or array",
                          {"parameter": "value"})
        stored = value if parsed is None else parsed
    else:
        stored = value
    if len(jsondata.dumpb(stored)) > MAX_VALUE_BYTES:
        raise Invalid(f"the value is over {MAX_VALUE_BYTES // 1024} KiB as JSON", {"parameter": "value"})
    return stored


def _json_in(text: str) -> Any:
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        parsed = jsondata.loads(text)
    except jsondata.JsonError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def save(conn: Connection, actor: str, name: str, value: Any, now: float) -> bool:
    """Create or replace the resource ``name`` (the CLI's ``resource set``); True when it is new.
    ValueError for a name templates could not reach."""
    existed = bool(sql.resource_page(conn, after_id=None, limit=1, name=name))
    sql.save_resource(conn, name, value, now)
    audit.record(conn, actor, "resource.set", name,
                 f"{'replaced' if existed else 'created'} ({value_type_of(value)})", now=now)
    return not existed


def remove(conn: Connection, actor: str, name: str) -> None:
    if not sql.delete_resource(conn, name):
        raise NotFound(f"no resource named {name!r}; `storyline resource list` shows them")
    audit.record(conn, actor, "resource.delete", name, "deleted")


def _shown(row: dict[str, Any], typed_value: bool) -> dict[str, Any]:
    # Tines' fields (https://www.tines.com/api/resources/get); teams and folders do not exist here.
    value = row["value"]
    return {"id": row["id"], "name": row["name"], "slug": row["name"],
            "value": value if typed_value else text_of(value), "value_type": value_type_of(value),
            "description": "", "read_access": "GLOBAL", "team_id": None, "folder_id": None,
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _one(conn: Connection, resource_id: int) -> dict[str, Any]:
    rows = sql.resource_page(conn, after_id=None, limit=1, resource_id=resource_id)
    if not rows:
        raise NotFound(f"no resource with id {resource_id}; GET /api/v1/global_resources lists them",
                       {"parameter": "id"})
    return rows[0]


def _checked_name(name: str) -> str:
    try:
        return sql.check_name(name)
    except ValueError as exc:
        raise Invalid(str(exc), {"parameter": "name"}) from None


def list_resources(conn: Connection, principal: Principal | None, page: PageRequest, typed_value: bool) -> Page:
    require(principal, Permission.RESOURCES_READ)
    rows = sql.resource_page(conn, after_id=page.after, limit=page.per_page + 1)
    return paginate([_shown(row, typed_value) for row in rows], page)


def get_resource(conn: Connection, principal: Principal | None, resource_id: int, typed_value: bool) -> dict[str, Any]:
    require(principal, Permission.RESOURCES_READ)
    return _shown(_one(conn, resource_id), typed_value)


def create_resource(conn: Connection, principal: Principal | None, name: str, value: Any,
                    value_type: ValueType | None, now: float, typed_value: bool = False) -> dict[str, Any]:
    who = require(principal, Permission.RESOURCES_WRITE)
    stored = typed(value, value_type)
    if sql.resource_page(conn, after_id=None, limit=1, name=_checked_name(name)):
        raise Conflict(f"a resource named {name!r} exists; replace it with PUT /api/v1/global_resources/{{id}}",
                       {"parameter": "name"})
    save(conn, who.actor, name, stored, now)
    return _shown(sql.resource_page(conn, after_id=None, limit=1, name=name)[0], typed_value)


def replace_resource(conn: Connection, principal: Principal | None, resource_id: int, value: Any,
                     value_type: ValueType | None, name: str | None, now: float,
                     typed_value: bool = False) -> dict[str, Any]:
    """Tines' update: a new value, and a new name when one is given."""
    who = require(principal, Permission.RESOURCES_WRITE)
    old = _one(conn, resource_id)
    stored = typed(value, value_type)
    new_name = old["name"] if name is None else _checked_name(name)
    if new_name != old["name"] and sql.resource_page(conn, after_id=None, limit=1, name=new_name):
        raise Conflict(f"another resource is named {new_name!r}", {"parameter": "name"})
    sql.replace_resource(conn, resource_id, new_name, stored, now)
    renamed = f"renamed from {old['name']}; " if new_name != old["name"] else ""
    audit.record(conn, who.actor, "resource.set", new_name, f"{renamed}replaced ({value_type_of(stored)})", now=now)
    return _shown(_one(conn, resource_id), typed_value)


def delete_resource(conn: Connection, principal: Principal | None, resource_id: int) -> None:
    who = require(principal, Permission.RESOURCES_WRITE)
    old = _one(conn, resource_id)
    sql.delete_resource_id(conn, resource_id)
    audit.record(conn, who.actor, "resource.delete", old["name"], "deleted")

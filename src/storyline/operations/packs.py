"""Story packs as the API and the CLI see them: listed, installed, the install audited one way."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from storyline import packs
from storyline.accounts import audit
from storyline.accounts.roles import Permission, Principal
from storyline.operations.access import require
from storyline.operations.errors import Invalid, NotFound


def shown(pack: packs.Pack) -> dict[str, Any]:
    return {"name": pack.name, "description": pack.description, "stories": [f.name for f in pack.files],
            "credentials": list(pack.credentials), "resources": dict(pack.resources)}


def summary(done: packs.Installed) -> str:
    """What an install changed, for the audit log."""
    parts = [f"{label}: {', '.join(names)}" for label, names in (
        ("stories installed", done.stories), ("already installed", done.skipped), ("resources set", done.resources))
        if names]
    return "; ".join(parts) or "nothing to change"


def install(conn: Connection, actor: str, name: str, *, replace: bool = False) -> packs.Installed:
    """Install pack ``name`` in the caller's transaction, audited as ``actor``.
    ``PackError`` (a ValueError) for an unknown pack or stories that cannot be installed."""
    done = packs.install(conn, name, replace=replace)
    audit.record(conn, actor, "pack.install", name, summary(done))
    return done


def list_packs(conn: Connection, principal: Principal | None) -> list[dict[str, Any]]:
    require(principal, Permission.STORIES_READ)
    return [shown(pack) for pack in packs.PACKS.values()]


def install_pack(conn: Connection, principal: Principal | None, name: str, replace: bool) -> dict[str, Any]:
    who = require(principal, Permission.PACKS_INSTALL)
    if name not in packs.PACKS:
        raise NotFound(f"no pack {name!r}; GET /api/v1/packs lists them", {"parameter": "name"})
    try:
        done = install(conn, who.actor, name, replace=replace)
    except packs.PackError as exc:
        raise Invalid(str(exc), {"parameter": "name"}) from None
    return {"name": name, "stories_installed": done.stories, "already_installed": done.skipped,
            "resources_set": done.resources, "warnings": done.warnings,
            "credentials": list(packs.get(name).credentials)}

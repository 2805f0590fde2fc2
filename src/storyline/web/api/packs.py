"""``/api/v1/packs``: the story packs shipped with storyline, and installing one (admins)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from storyline.accounts.roles import Permission
from storyline.operations import packs
from storyline.web.api.endpoint import Call, Endpoint


class InstallBody(BaseModel):
    replace: bool = False
    """Update the pack's stories already installed (their webhook secrets are kept)."""


async def list_packs(call: Call) -> Any:
    return {"packs": await call.service.db.read(packs.list_packs, call.principal)}


async def install_pack(call: Call) -> Any:
    done = await call.service.db.write(packs.install_pack, call.principal, call.path["name"], call.body.replace)
    await call.service.catalogs.get(force=True)  # the new webhooks answer at once on this node
    call.service.runtime.vault.expire()  # and the resources it set
    return done


ENDPOINTS = [
    Endpoint("GET", "/packs", Permission.STORIES_READ, list_packs, "List the story packs shipped with storyline",
             tines="no Tines twin (storyline's packs)"),
    Endpoint("POST", "/packs/{name}/install", Permission.PACKS_INSTALL, install_pack,
             "Install a pack's stories and its missing resources", body=InstallBody, optional_body=True,
             tines="no Tines twin; like `storyline pack install NAME [--replace]`"),
]

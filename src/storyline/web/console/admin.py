"""The pages of what stories run with and who may act: ``/credentials``, ``/resources``, ``/packs``,
``/audit``, ``/users`` and ``/tokens``.

Each reads and changes through ``operations/`` (the role checked again there, every change audited
in its transaction), like the REST API. A credential's value is write-only: its field is a password
input that is never filled in, and no page, notice or error repeats it. A new API token is shown
once, in the answer to the form that made it (never in a URL or a redirect).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from storyline import jsondata
from storyline.accounts.roles import Permission, Role, parse_role
from storyline.credentials import model
from storyline.engine.service import Service
from storyline.operations import accounts, credentials, packs, resources
from storyline.operations.errors import Invalid, OperationError
from storyline.web.console import forms

PER_PAGE = 50
MAX_NAME = 255
MAX_HOSTS = 2000
MAX_VALUE = 60_000
"""Characters of a resource's JSON or a credential's value the console takes (the form is at most 64 KiB;
larger values go through ``storyline resource set`` or the API)."""
NOTICES = {
    "credential-set": "Credential saved.", "credential-deleted": "Credential deleted.",
    "resource-saved": "Resource saved.", "resource-deleted": "Resource deleted.",
    "pack-installed": "Pack installed.", "user-added": "User added.", "user-changed": "User changed.",
    "user-removed": "User removed.", "token-revoked": "Token revoked.",
}
View = Callable[..., Awaitable[Response]]


def _role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as exc:
        raise Invalid(str(exc), {"field": "role"}) from None


def _hosts(text: str) -> list[str] | None:
    hosts = [host for host in text.replace(",", " ").split() if host]
    return hosts or None


async def _or_again(request: Request, view: View, change: Callable[[], Awaitable[Response]]) -> Response:
    """Make the change; if the operation refuses it, the page again with the reason (and the status)."""
    try:
        return await change()
    except OperationError as exc:
        if exc.status in (401, 403):
            raise
        return await view(request, error=exc.message, status=exc.status)


class AdminPages:
    def __init__(self, service: Service) -> None:
        self.service = service

    def _read(self, fn: Callable[..., Any], request: Request, *args: Any) -> Awaitable[Any]:
        return self.service.db.read(fn, forms.principal(request), *args)

    def _write(self, fn: Callable[..., Any], request: Request, *args: Any) -> Awaitable[Any]:
        return self.service.db.write(fn, forms.principal(request), *args)

    def _page(self, request: Request, template: str, title: str, context: dict[str, Any], error: str,
              status: int) -> Response:
        return forms.page(request, template, {"title": title, "notice": forms.notice(request, NOTICES),
                                              "error": error, **context}, status=status)

    def _paged(self, request: Request, page: Any) -> dict[str, str]:
        return {"next": forms.link(request, cursor=page.next_cursor) if page.next_cursor else "",
                "first": forms.link(request, cursor=None) if request.query_params.get("cursor") else ""}

    # -- credentials ----------------------------------------------------------------------------

    async def credentials(self, request: Request, error: str = "", status: int = 200) -> Response:
        page = await self._read(credentials.list_credentials, request, forms.paging(request, PER_PAGE))
        chosen = request.query_params.get("name", "")[:MAX_NAME]
        hosts = next((" ".join(row["allowed_hosts"] or []) for row in page.items if row["name"] == chosen), "")
        return self._page(request, "console/credentials.html", "Credentials", {
            "credentials": page.items, "chosen": chosen, "chosen_hosts": hosts,
            "write": forms.may(request, Permission.CREDENTIALS_WRITE), **self._paged(request, page)}, error, status)

    async def set_credential(self, request: Request) -> Response:
        async def change() -> Response:
            fields = await forms.form(request)
            name = forms.field(fields, "name", MAX_NAME)
            value = fields.get("value", "")
            if not value or len(value) > MAX_VALUE:
                raise Invalid(f"value: fill it in (at most {MAX_VALUE} characters)", {"field": "value"})
            try:
                credential = model.text(name, value, allowed_hosts=_hosts(forms.field(
                    fields, "allowed_hosts", MAX_HOSTS, required=False)))
            except ValueError as exc:  # the model's messages name the field, never the value
                raise Invalid(str(exc).replace("--", ""), {"field": "value"}) from None
            cipher = self.service.runtime.vault.cipher
            if cipher is None:
                raise RuntimeError("the service has not started: no credential key loaded")
            await self._write(credentials.set_credential, request, cipher, credential, time.time())
            self.service.runtime.vault.expire()
            return forms.done("/credentials", "credential-set")

        return await _or_again(request, self.credentials, change)

    async def delete_credential(self, request: Request) -> Response:
        async def change() -> Response:
            await self._write(credentials.delete_credential, request, str(request.path_params["id"]))
            self.service.runtime.vault.expire()
            return forms.done("/credentials", "credential-deleted")

        return await _or_again(request, self.credentials, change)

    # -- resources ------------------------------------------------------------------------------

    async def resources(self, request: Request, error: str = "", status: int = 200) -> Response:
        page = await self._read(resources.list_resources, request, forms.paging(request, PER_PAGE), True)
        shown = [{**row, "json": jsondata.dumps(row["value"], indent=True)} for row in page.items]
        return self._page(request, "console/resources.html", "Resources", {
            "resources": shown, "write": forms.may(request, Permission.RESOURCES_WRITE),
            **self._paged(request, page)}, error, status)

    @staticmethod
    def _value(fields: dict[str, str]) -> Any:
        text = fields.get("value", "")
        if len(text) > MAX_VALUE:
            raise Invalid(f"value: at most {MAX_VALUE} characters here; larger values go through "
                          "`storyline resource set` or the API", {"field": "value"})
        try:
            return jsondata.loads(text)
        except jsondata.JsonError as exc:
            raise Invalid(f"value: not JSON ({exc}); a text resource is a JSON string, \"in quotes\"",
                          {"field": "value"}) from None

    async def create_resource(self, request: Request) -> Response:
        async def change() -> Response:
            fields = await forms.form(request)
            name, value = forms.field(fields, "name", MAX_NAME), self._value(fields)
            await self._write(resources.create_resource, request, name, value, None, time.time())
            self.service.runtime.vault.expire()
            return forms.done("/resources", "resource-saved")

        return await _or_again(request, self.resources, change)

    async def replace_resource(self, request: Request) -> Response:
        async def change() -> Response:
            value = self._value(await forms.form(request))
            await self._write(resources.replace_resource, request, int(request.path_params["id"]), value,
                              None, None, time.time())
            self.service.runtime.vault.expire()
            return forms.done("/resources", "resource-saved")

        return await _or_again(request, self.resources, change)

    async def delete_resource(self, request: Request) -> Response:
        async def change() -> Response:
            await self._write(resources.delete_resource, request, int(request.path_params["id"]))
            self.service.runtime.vault.expire()
            return forms.done("/resources", "resource-deleted")

        return await _or_again(request, self.resources, change)

    # -- packs ----------------------------------------------------------------------------------

    async def packs(self, request: Request, error: str = "", status: int = 200) -> Response:
        listed = await self._read(packs.list_packs, request)
        return self._page(request, "console/packs.html", "Packs", {
            "packs": listed, "install": forms.may(request, Permission.PACKS_INSTALL)}, error, status)

    async def install_pack(self, request: Request) -> Response:
        async def change() -> Response:
            fields = await forms.form(request)
            await self._write(packs.install_pack, request, str(request.path_params["name"]),
                              fields.get("replace") == "on")
            await self.service.catalogs.get(force=True)  # its webhooks answer at once on this node
            self.service.runtime.vault.expire()
            return forms.done("/packs", "pack-installed")

        return await _or_again(request, self.packs, change)

    # -- the audit log --------------------------------------------------------------------------

    async def audit(self, request: Request, error: str = "", status: int = 200) -> Response:
        actor = request.query_params.get("actor", "").strip()[:330] or None
        action = request.query_params.get("action", "").strip()[:64] or None
        page = await self._read(accounts.audit_entries, request, forms.paging(request, PER_PAGE), actor, action)
        return self._page(request, "console/audit.html", "Audit log", {
            "entries": page.items, "actor": actor or "", "action": action or "", **self._paged(request, page)},
            error, status)

    # -- users ----------------------------------------------------------------------------------

    async def users(self, request: Request, error: str = "", status: int = 200) -> Response:
        page = await self._read(accounts.list_users, request, forms.paging(request, PER_PAGE, str))
        return self._page(request, "console/users.html", "Users", {
            "users": page.items, "roles": [str(role) for role in Role], **self._paged(request, page)}, error, status)

    async def add_user(self, request: Request) -> Response:
        async def change() -> Response:
            fields = await forms.form(request)
            email, role = forms.field(fields, "email", 320), _role(fields.get("role", ""))
            hashed = await asyncio.to_thread(accounts.hash_password, fields.get("password", ""))
            await self._write(accounts.add_user, request, email, role, hashed)
            return forms.done("/users", "user-added")

        return await _or_again(request, self.users, change)

    async def change_user(self, request: Request) -> Response:
        async def change() -> Response:
            fields = await forms.form(request)
            role = _role(fields["role"]) if fields.get("role") else None
            password = fields.get("password", "")
            hashed = await asyncio.to_thread(accounts.hash_password, password) if password else None
            if role is None and hashed is None:
                raise Invalid("choose a role or type a new password", {"field": "role"})
            await self._write(accounts.update_user, request, str(request.path_params["id"]), role, hashed)
            return forms.done("/users", "user-changed")

        return await _or_again(request, self.users, change)

    async def remove_user(self, request: Request) -> Response:
        async def change() -> Response:
            await self._write(accounts.remove_user, request, str(request.path_params["id"]))
            return forms.done("/users", "user-removed")

        return await _or_again(request, self.users, change)

    # -- API tokens -----------------------------------------------------------------------------

    async def tokens(self, request: Request, error: str = "", status: int = 200, created: Any = None) -> Response:
        page = await self._read(accounts.list_tokens, request, forms.paging(request, PER_PAGE, str))
        return self._page(request, "console/tokens.html", "API tokens", {
            "tokens": page.items, "roles": [str(role) for role in Role], "created": created,
            **self._paged(request, page)}, error, status)

    async def create_token(self, request: Request) -> Response:
        async def change() -> Response:
            fields = await forms.form(request)
            name, role = forms.field(fields, "name", 64), _role(fields.get("role", ""))
            created = await self._write(accounts.create_token, request, name, role)
            # Shown this once, in this answer: never cached, never in a URL.
            return await self.tokens(request, created=created)

        return await _or_again(request, self.tokens, change)

    async def revoke_token(self, request: Request) -> Response:
        async def change() -> Response:
            await self._write(accounts.revoke_token, request, str(request.path_params["name"]))
            return forms.done("/tokens", "token-revoked")

        return await _or_again(request, self.tokens, change)

"""One API endpoint as data, and the glue that turns it into a guarded route.

A handler receives a :class:`Call` (the service, the principal, path parameters and the parsed
query and body) and returns JSON-able data, a :class:`~storyline.operations.paging.Page` (answered
as ``{collection: [...], "meta": {...}}``), or a ready Response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from storyline import jsondata
from storyline.accounts.roles import Permission, Principal
from storyline.engine.service import Service
from storyline.operations.errors import Invalid
from storyline.operations.paging import Page
from storyline.web.access import Rule, guarded, needs, public, read_bounded, service_of

PREFIX = "/api/v1"
MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest API body: a story export with embedded files fits; more is refused with 413."""


@dataclass
class Call:
    service: Service
    principal: Principal | None
    path: dict[str, Any]
    query: Any
    body: Any
    request: Request


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    """Below ``/api/v1``, with Starlette's typed parameters: ``/stories/{id:int}``."""
    permission: Permission | None
    handler: Handler
    summary: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    collection: str | None = None
    """For lists: the key the items are answered under (``stories``), as Tines does."""
    status: int = 200
    optional_body: bool = False
    """An empty body reads as ``{}`` (the body's fields all have defaults)."""
    public: str = ""
    """Why a route without a permission is open to anyone."""
    tines: str = ""
    """How this maps to Tines' API (its path, or what differs), for the docs."""

    @property
    def rule(self) -> Rule:
        return needs(self.permission) if self.permission is not None else public(self.public)

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


def _validation_detail(error: ValidationError) -> list[dict[str, Any]]:
    # Never the input itself: it may be a secret or megabytes long.
    return [{"loc": [str(part) for part in item["loc"]], "msg": item["msg"], "type": item["type"]}
            for item in error.errors(include_url=False, include_input=False, include_context=False)]


def parse(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(f"the {where} is not valid", _validation_detail(exc)) from None


async def read_json(request: Request, *, optional: bool = False) -> Any:
    raw = await read_bounded(request, MAX_BODY_BYTES, f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB",
                             "body")
    if not raw.strip():
        if optional:
            return {}
        raise Invalid("send a JSON body (Content-Type: application/json)")
    try:
        return jsondata.loads(raw)
    except jsondata.JsonError as exc:
        raise Invalid(f"the body is not JSON: {exc}") from None


def json_response(data: Any, status: int = 200) -> Response:
    return Response(jsondata.dumpb(data), status_code=status,
                    media_type="application/json", headers={"cache-control": "no-store"})


def page_response(request: Request, collection: str, page: Page) -> Response:
    meta: dict[str, Any] = {"per_page": page.per_page, "next_cursor": page.next_cursor, "next_page": None}
    if page.next_cursor is not None:
        params = {**request.query_params, "cursor": page.next_cursor}
        meta["next_page"] = f"{request.url.path}?{urlencode(params)}"
    return json_response({collection: page.items, "meta": meta, **page.extra})


def route(endpoint: Endpoint) -> Any:
    async def handle(request: Request) -> Response:
        # A NUL byte is in no id, name or filter storyline stores, and PostgreSQL refuses it in any text:
        # answered here, once for every endpoint, not as a database error in each.
        for where, values in (("path", request.path_params.values()), ("query", request.query_params.values())):
            if any(isinstance(value, str) and "\x00" in value for value in values):
                raise Invalid(f"the {where} holds a NUL character, which no name, id or filter has")
        query = parse(endpoint.query, dict(request.query_params), "query") if endpoint.query else None
        body = (parse(endpoint.body, await read_json(request, optional=endpoint.optional_body), "body")
                if endpoint.body else None)
        call = Call(service_of(request), request.state.principal, dict(request.path_params), query, body, request)
        result = await endpoint.handler(call)
        if isinstance(result, Response):
            return result
        if isinstance(result, Page):
            return page_response(request, endpoint.collection or "items", result)
        return json_response(result, endpoint.status)

    handle.__name__ = endpoint.handler.__name__
    return guarded(endpoint.full_path, handle, rule=endpoint.rule, methods=[endpoint.method])


def routes_for(endpoints: Sequence[Endpoint]) -> list[Any]:
    return [route(endpoint) for endpoint in endpoints]

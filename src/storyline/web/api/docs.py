"""The API describing itself: OpenAPI 3.1 at ``/api/v1/openapi.json`` and a readable page at ``/api/v1/docs``.

Both are generated from the endpoint table and the pydantic models, so they cannot drift from
the routes. Both are public: they name what exists, never anything stored.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from storyline.accounts.roles import LEAST_ROLE
from storyline.web.access import guarded, public
from storyline.web.api.endpoint import PREFIX, Endpoint, json_response
from storyline.web.pages import STYLE

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
ERROR = {"type": "object", "required": ["error"],
         "properties": {"error": {"type": "string"}, "detail": {}}}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        path = _PARAM.sub(r"{\1}", endpoint.full_path)
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer" if kind == "int" else "string"}}
            for name, kind in _PARAM.findall(endpoint.path)
        ]
        if endpoint.query is not None:
            for name, field in endpoint.query.model_fields.items():
                schema = endpoint.query.model_json_schema()["properties"][name]
                parameters.append({"name": name, "in": "query", "required": field.is_required(),
                                   "description": field.description or "", "schema": schema})
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "operationId": endpoint.handler.__name__,
            "parameters": parameters,
            "responses": {str(endpoint.status): {"description": "OK"}},
        }
        if endpoint.permission is not None:
            role = LEAST_ROLE[endpoint.permission]
            operation["description"] = f"Needs the {role} role ({endpoint.permission})."
            operation["security"] = [{"bearer": []}, {"session": []}]
            for status, why in (("401", "No login or token"), ("403", f"Needs the {role} role")):
                operation["responses"][status] = {"description": why, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        else:
            operation["security"] = []
        if endpoint.tines:
            operation["x-tines"] = endpoint.tines
        if endpoint.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema(endpoint.body, components)}}}
            operation["responses"]["422"] = {"description": "Invalid input", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "storyline", "version": "1",
                 "description": "storyline's REST API. Paths and fields follow Tines' API where it has one."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token: `storyline token create`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "storyline_session"},
        }},
    }


def routes(endpoints: Sequence[Endpoint]) -> list[BaseRoute]:
    @cache
    def document() -> dict[str, Any]:
        return openapi(endpoints)

    async def openapi_json(request: Request) -> Response:
        return json_response(document())

    async def api_docs(request: Request) -> Response:
        rows = "".join(
            f"<tr><td><code>{html.escape(e.method)} {html.escape(e.full_path)}</code></td>"
            f"<td>{html.escape(e.summary)}</td>"
            f"<td>{html.escape(str(LEAST_ROLE[e.permission]) if e.permission else 'anyone')}</td>"
            f"<td>{html.escape(e.tines)}</td></tr>"
            for e in endpoints
        )
        document_ = (
            "<!doctype html><html><head><meta charset=utf-8><title>storyline API</title>"
            f"<style>{STYLE}</style></head><body><h1>storyline API</h1>"
            f"<p>The machine-readable description: <a href='{PREFIX}/openapi.json'>{PREFIX}/openapi.json</a>. "
            "Authenticate with <code>Authorization: Bearer stl_...</code> (<code>storyline token create</code>).</p>"
            "<table><tr><th>endpoint</th><th>what</th><th>least role</th><th>Tines</th></tr>"
            f"{rows}</table></body></html>"
        )
        return HTMLResponse(document_, headers={"cache-control": "no-store"})

    return [
        guarded(f"{PREFIX}/openapi.json", openapi_json, rule=public("the API's description names no stored data")),
        guarded(f"{PREFIX}/docs", api_docs, rule=public("the API's description names no stored data")),
    ]

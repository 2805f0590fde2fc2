"""Jira Cloud REST, as much as the chatbot stories use: create an issue, transition it, comment on it.

* ``POST /rest/api/2/issue`` -> 201 ``{"id", "key", "self"}``
* ``POST /rest/api/{2,3}/issue/{id or key}/transitions`` -> 204
* ``POST /rest/api/2/issue/{id or key}/comment[/]`` -> 201

Every request needs HTTP Basic auth with ``user`` and ``token`` (else 401, as Jira answers).
``issues``, ``transitions`` and ``comments`` keep what the stories sent.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer


class FakeJira(FakeServer):
    def __init__(self, user: str = "svc@example.com", token: str = "jira-api-token", *, project: str = "DEMO") -> None:
        self.user = user
        self.token = token
        self.project = project
        self.issues: list[dict[str, Any]] = []
        self.transitions: list[tuple[str, dict[str, Any]]] = []
        self.comments: list[tuple[str, dict[str, Any]]] = []
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.issues.clear()
        self.transitions.clear()
        self.comments.clear()

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        return request.headers.get("authorization", "") == f"Basic {expected}"

    def build_app(self) -> ASGIApp:
        async def route(request: Request) -> Response:
            if not self._authorized(request):
                return JSONResponse({"errorMessages": ["You are not authenticated."]}, status_code=401)
            parts = [p for p in request.url.path.split("/") if p]  # rest, api, N, issue, ...
            body = await request.json()
            if parts[3:] == ["issue"]:
                number = 10000 + len(self.issues) + 1
                issue = {"id": str(number), "key": f"{self.project}-{len(self.issues) + 1}",
                         "self": f"{request.base_url}rest/api/2/issue/{number}"}
                self.issues.append({**issue, "fields": body.get("fields", {})})
                return JSONResponse(issue, status_code=201)
            if len(parts) == 6 and parts[5] == "transitions":
                self.transitions.append((parts[4], body))
                return Response(status_code=204)
            if len(parts) == 6 and parts[5] == "comment":
                self.comments.append((parts[4], body))
                return JSONResponse({"id": str(len(self.comments)), "body": body.get("body")}, status_code=201)
            return JSONResponse({"errorMessages": ["Not found"]}, status_code=404)

        return Starlette(routes=[Route("/rest/api/{rest:path}", route, methods=["POST"])])

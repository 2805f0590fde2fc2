"""Microsoft Graph, as much as the proactive Teams bot uses: a user, their joined teams, a team.

* ``GET /v1.0/users/{id or e-mail}[/]`` -> the user
* ``GET /v1.0/users/{id}/joinedTeams`` -> ``{"value": [team, ...]}``
* ``GET /v1.0/teams/{id}[/]`` (any case) -> the team with its ``internalId`` (the Bot Framework
  conversation id of its General channel)

Every request needs ``Authorization: Bearer <token>`` (else 401 ``InvalidAuthenticationToken``).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer


class FakeGraph(FakeServer):
    """Point ``graph.microsoft.com`` at ``.url`` through egress overrides."""

    host_name = "graph.microsoft.com"

    def __init__(self, token: str = "graph-access-token") -> None:
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.memberships: dict[str, list[str]] = {}
        super().__init__()

    def add_user(self, email: str, name: str) -> dict[str, Any]:
        user = {"id": f"00000000-0000-0000-0000-{len(self.users) + 1:012d}", "displayName": name,
                "mail": email, "userPrincipalName": email}
        self.users[user["id"]] = user
        return user

    def add_team(self, name: str, internal_id: str, *members: dict[str, Any]) -> dict[str, Any]:
        team = {"id": f"team-{len(self.teams) + 1}", "displayName": name, "internalId": internal_id}
        self.teams[team["id"]] = team
        for member in members:
            self.memberships.setdefault(member["id"], []).append(team["id"])
        return team

    def reset(self) -> None:
        super().reset()
        self.users.clear()
        self.teams.clear()
        self.memberships.clear()

    def _user(self, ref: str) -> dict[str, Any] | None:
        ref = ref.lower()
        return next((u for u in self.users.values() if ref in (u["id"], u["mail"].lower())), None)

    def build_app(self) -> ASGIApp:
        async def route(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
            parts = [p for p in request.url.path.split("/") if p][1:]  # without "v1.0"
            kind = parts[0].lower() if parts else ""
            if kind == "users" and len(parts) in (2, 3):
                user = self._user(parts[1])
                if user is None:
                    return _error(404, "Request_ResourceNotFound", f"Resource '{parts[1]}' does not exist.")
                if len(parts) == 2:
                    return JSONResponse(user)
                if parts[2] == "joinedTeams":
                    ids = self.memberships.get(user["id"], [])
                    return JSONResponse({"value": [{k: v for k, v in self.teams[i].items() if k != "internalId"}
                                                   for i in ids]})
            if kind == "teams" and len(parts) == 2 and parts[1] in self.teams:
                return JSONResponse(self.teams[parts[1]])
            return _error(404, "NotFound", f"no route for {request.url.path}")

        return Starlette(routes=[Route("/v1.0/{rest:path}", route, methods=["GET"])])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

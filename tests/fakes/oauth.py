"""An OAuth2 token endpoint and an API that wants its tokens, like the Bot Framework's.

* ``POST /token``: client-credentials grant (form fields ``client_id``, ``client_secret``,
  ``grant_type``, optional ``scope``); answers ``{"access_token", "expires_in", "token_type"}``.
* ``GET|POST /api/me``: 200 with the caller's token number for a valid ``Bearer`` token, else 401.
* ``POST /login``: a session API for HTTP-request credentials: ``{"user", "password"}`` JSON in,
  ``{"session": {"key": ...}}`` out.

``revoke()`` invalidates every token issued so far, as an expiry on the server's side does.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer


class FakeOAuth(FakeServer):
    def __init__(self, client_id: str = "bot-app-id", client_secret: str = "bot-app-secret-1234",
                 *, expires_in: float = 3600, password: str = "login-password-99") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.password = password
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.scopes: list[str | None] = []
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.issued.clear()
        self.valid.clear()
        self.scopes.clear()

    def revoke(self) -> None:
        self.valid.clear()

    def _issue(self, prefix: str) -> str:
        token = f"{prefix}-{len(self.issued) + 1}-0123456789"
        self.issued.append(token)
        self.valid.add(token)
        return token

    def build_app(self) -> ASGIApp:
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            scope = form.get("scope")
            self.scopes.append(str(scope) if scope is not None else None)
            return JSONResponse({"token_type": "Bearer", "expires_in": self.expires_in,
                                 "access_token": self._issue("access-token")})

        async def me(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            bearer = auth.removeprefix("Bearer ").strip()
            if bearer not in self.valid:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return JSONResponse({"ok": True, "token_number": self.issued.index(bearer) + 1})

        async def login(request: Request) -> Response:
            body = await request.json()
            if body.get("password") != self.password:
                return JSONResponse({"error": "bad password"}, status_code=403)
            return JSONResponse({"session": {"key": self._issue("session-key")}})

        return Starlette(routes=[
            Route("/token", token, methods=["POST"]),
            Route("/api/me", me, methods=["GET", "POST"]),
            Route("/login", login, methods=["POST"]),
        ])

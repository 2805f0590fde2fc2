"""Slack Web API and incoming webhooks, as much as chatbot stories use.

* ``POST /api/chat.postMessage`` and ``POST /api/chat.update`` (JSON or form body)
* ``GET|POST /api/users.lookupByEmail?email=``
* ``POST /api/conversations.open`` (``users``: one DM channel per user, ``already_open`` after)
* ``POST /api/views.open`` (modals; kept in ``views``)
* ``POST /services/...`` (incoming webhooks; answers ``ok``)
* ``POST /commands/...`` and ``/actions/...`` (``response_url`` of a slash command or a
  click; kept in ``replies``; like Slack, each URL takes 5 replies, then 404 ``used_url``)

Like the real API, Web API errors are HTTP 200 with ``{"ok": false, "error": ...}``:
``not_authed`` without a token, ``invalid_auth`` with a wrong one. The token may come
as ``Authorization: Bearer`` or a ``token`` parameter. Posted messages are kept in
``messages`` (with their ``ts``) so tests can assert on what a story said.
Point both ``slack.com`` and ``hooks.slack.com`` at ``.url``. Every request is in
``calls``; ``error(method, code)`` scripts an ``ok: false`` answer, ``throttle()`` a 429
with Retry-After and ``{"ok": false, "error": "ratelimited"}``. ``signed(body)`` gives
the headers Slack signs an inbound request with, under ``signing_secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer, Fault

REPLIES_PER_URL = 5


class FakeSlack(FakeServer):
    """A Slack stand-in with a bot token, a user directory and a message log."""

    host_name = "slack.com"
    rate_limit_body = {"ok": False, "error": "ratelimited"}

    def __init__(
        self, token: str = "xoxb-test-token", *, users: dict[str, dict[str, Any]] | None = None,
        signing_secret: str = "slack-signing-secret",
    ) -> None:
        self.token = token
        self.signing_secret = signing_secret
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.dms: dict[str, str] = {}
        self.views: list[dict[str, Any]] = []
        self._ts = itertools.count(1)
        for email, user in (users or {}).items():
            self.add_user(email, **user)
        super().__init__()

    def add_user(
        self, email: str, *, id: str | None = None, name: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Register a user for ``users.lookupByEmail``; returns the Slack user object."""
        name = name or email.split("@")[0]
        user = {
            "id": id or f"U{len(self.users) + 1:08d}",
            "team_id": "T00000001",
            "name": name,
            "real_name": name.title(),
            "deleted": False,
            "is_bot": False,
            "profile": {"email": email, "real_name": name.title(), "display_name": name},
            **extra,
        }
        self.users[email.lower()] = user
        return user

    def reset(self) -> None:
        super().reset()
        self.messages.clear()
        self.webhook_posts.clear()
        self.replies.clear()
        self.dms.clear()
        self.views.clear()

    def signed(self, body: bytes | str, timestamp: float | None = None) -> dict[str, str]:
        """Headers for an inbound request as Slack signs it (``timestamp`` defaults to now)."""
        stamp = str(int(time.time() if timestamp is None else timestamp))
        raw = body.encode() if isinstance(body, str) else body
        digest = hmac.new(self.signing_secret.encode(), b"v0:%s:%s" % (stamp.encode(), raw), hashlib.sha256)
        return {"x-slack-request-timestamp": stamp, "x-slack-signature": "v0=" + digest.hexdigest()}

    def error(self, method: str, code: str, *, times: int | None = 1) -> Fault:
        """Answer the next call(s) of a Web API method with HTTP 200 and ``ok: false``."""
        return self.fail(200, times=times, path=f"/api/{method}", json={"ok": False, "error": code})

    def calls_of(self, method: str) -> list[Any]:
        """The calls of one Web API method, e.g. ``calls_of("chat.postMessage")``."""
        return self.calls_to(f"/api/{method}")

    # -- helpers -------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        """Slack reads arguments from the query, a form body or a JSON body alike."""
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if not body:
            return params
        content_type = request.headers.get("content-type", "")
        if "json" in content_type:
            try:
                parsed = json.loads(body)
            except ValueError:
                return params
            if isinstance(parsed, dict):
                params.update(parsed)
        elif "x-www-form-urlencoded" in content_type:
            params.update(dict(await request.form()))
        return params

    def _auth_error(self, request: Request, params: dict[str, Any]) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else params.get("token")
        if not token:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if token != self.token:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        return None

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    # -- routes --------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/api/chat.update", self._update_message, methods=["POST"]),
                Route("/api/users.lookupByEmail", self._lookup_by_email, methods=["GET", "POST"]),
                Route("/api/conversations.open", self._open_conversation, methods=["POST"]),
                Route("/api/views.open", self._open_view, methods=["POST"]),
                Route("/services/{rest:path}", self._incoming_webhook, methods=["POST"]),
                Route("/commands/{rest:path}", self._response_url, methods=["POST"]),
                Route("/actions/{rest:path}", self._response_url, methods=["POST"]),
            ]
        )

    async def _post_message(self, request: Request) -> Response:
        params = await self._params(request)
        if (error := self._auth_error(request, params)) is not None:
            return error
        channel = params.get("channel")
        if not channel:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if not any(params.get(key) for key in ("text", "blocks", "attachments")):
            return JSONResponse({"ok": False, "error": "no_text"})
        ts = self._next_ts()
        message = {
            "type": "message",
            "user": "UBOT00001",
            "bot_id": "BBOT00001",
            "ts": ts,
            **{k: params[k] for k in ("text", "blocks", "attachments", "thread_ts") if k in params},
        }
        self.messages.append({"channel": channel, **message})
        return JSONResponse({"ok": True, "channel": channel, "ts": ts, "message": message})

    async def _update_message(self, request: Request) -> Response:
        params = await self._params(request)
        if (error := self._auth_error(request, params)) is not None:
            return error
        channel, ts = params.get("channel"), params.get("ts")
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == ts:
                message.update({k: params[k] for k in ("text", "blocks", "attachments") if k in params})
                return JSONResponse(
                    {"ok": True, "channel": channel, "ts": ts, "text": message.get("text", "")}
                )
        return JSONResponse({"ok": False, "error": "message_not_found"})

    async def _lookup_by_email(self, request: Request) -> Response:
        params = await self._params(request)
        if (error := self._auth_error(request, params)) is not None:
            return error
        user = self.users.get(str(params.get("email", "")).lower())
        if user is None:
            return JSONResponse({"ok": False, "error": "users_not_found"})
        return JSONResponse({"ok": True, "user": user})

    async def _open_view(self, request: Request) -> Response:
        params = await self._params(request)
        if (error := self._auth_error(request, params)) is not None:
            return error
        view = params.get("view")
        if not params.get("trigger_id") or not isinstance(view, dict):
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        opened = {"id": f"V{len(self.views) + 1:08d}", "trigger_id": params["trigger_id"], **view}
        self.views.append(opened)
        return JSONResponse({"ok": True, "view": opened})

    async def _incoming_webhook(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        self.webhook_posts.append({"path": request.url.path, "payload": payload})
        return PlainTextResponse("ok")

    async def _open_conversation(self, request: Request) -> Response:
        params = await self._params(request)
        if (error := self._auth_error(request, params)) is not None:
            return error
        users = [u.strip() for u in str(params.get("users", "")).split(",") if u.strip()]
        if not users:
            return JSONResponse({"ok": False, "error": "not_enough_users"})
        known = {user["id"] for user in self.users.values()}
        if any(user not in known for user in users):
            return JSONResponse({"ok": False, "error": "user_not_found"})
        key = ",".join(sorted(users))
        already = key in self.dms
        channel = self.dms.setdefault(key, f"D{len(self.dms) + 1:08d}")
        answer: dict[str, Any] = {"ok": True, "channel": {"id": channel}}
        if already:
            answer.update(no_op=True, already_open=True)
        return JSONResponse(answer)

    async def _response_url(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        path = request.url.path
        if sum(1 for reply in self.replies if reply["path"] == path) >= REPLIES_PER_URL:
            return PlainTextResponse("used_url", status_code=404)
        self.replies.append({"path": path, "payload": payload})
        return JSONResponse({"ok": True})

"""Slack's outbound side as chatbot stories use it: the Web API, incoming webhooks, ``response_url``.

* ``POST /api/chat.postMessage``, ``chat.update``, ``chat.postEphemeral`` (JSON or form body)
* ``GET|POST /api/users.lookupByEmail?email=``
* ``POST /api/conversations.open`` (``users``: one DM channel per set of users, ``already_open`` after)
* ``POST /api/views.open`` (modals)
* ``POST /services/...`` (incoming webhooks; ``ok``)
* ``POST /commands/...`` and ``/actions/...`` (the ``response_url`` of a slash command or a click;
  like Slack, each URL takes 5 replies, then 404 ``used_url``)

As on the real API, Web API errors are HTTP 200 with ``{"ok": false, "error": ...}``:
``not_authed`` without a token, ``invalid_auth`` with another than ``token`` (any token
will do when it is None); an unknown method is ``unknown_method``. The token may come as
``Authorization: Bearer`` or a ``token`` parameter. With ``open_directory`` every e-mail
address is a user (except ones containing ``unknown``), as the demo and the console want;
otherwise only those given to :meth:`Slack.add_user`.

What the bot said is kept twice: in ``messages``, ``webhook_posts``, ``replies`` and
``views`` (as Slack holds them; ``chat.update`` edits a message in place) and, numbered, in
the :class:`~storyline.standins.outbox.Outbox` that ``/_sandbox/messages`` and the console read.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from storyline.standins.outbox import Outbox

REPLIES_PER_URL = 5
BOT_USER, BOT_ID = "UBOT00001", "BBOT00001"
_MESSAGE_FIELDS = ("text", "blocks", "attachments", "thread_ts")
_HOOK_FIELDS = ("text", "blocks", "attachments", "replace_original", "delete_original", "response_type", "thread_ts")

Answer = dict[str, Any]


class Slack:
    """A Slack workspace with a bot token, a user directory and what the bot posted."""

    def __init__(
        self, token: str | None = None, *, users: Mapping[str, Mapping[str, Any]] | None = None,
        open_directory: bool = False, outbox: Outbox | None = None,
    ) -> None:
        self.token = token
        self.open_directory = open_directory
        self.outbox = outbox if outbox is not None else Outbox()
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.dms: dict[str, str] = {}
        self.views: list[dict[str, Any]] = []
        self._ts = itertools.count(1)
        for email, user in (users or {}).items():
            self.add_user(email, **user)

    def add_user(self, email: str, *, id: str | None = None, name: str | None = None, **extra: Any) -> dict[str, Any]:
        """Register a user for ``users.lookupByEmail``; returns the Slack user object."""
        name = name or email.split("@")[0]
        user = {
            "id": id or f"U{len(self.users) + 1:08d}", "team_id": "T00000001", "name": name,
            "real_name": name.title(), "deleted": False, "is_bot": False,
            "profile": {"email": email, "real_name": name.title(), "display_name": name},
            **extra,
        }
        self.users[email.lower()] = user
        return user

    def reset(self) -> None:
        self.messages.clear()
        self.webhook_posts.clear()
        self.replies.clear()
        self.dms.clear()
        self.views.clear()
        self.outbox.clear()

    def routes(self) -> list[Route]:
        api: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "chat.postMessage": self._post_message, "chat.update": self._update_message,
            "chat.postEphemeral": self._post_ephemeral, "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._open_conversation, "views.open": self._open_view,
        }

        async def web_api(request: Request) -> Response:
            params = await _params(request)
            if (error := self._auth_error(request, params)) is not None:
                return JSONResponse({"ok": False, "error": error})
            method = api.get(request.path_params["method"])
            return JSONResponse(method(params) if method else {"ok": False, "error": "unknown_method"})

        return [
            Route("/api/{method}", web_api, methods=["GET", "POST"]),
            Route("/services/{rest:path}", self._hook("services", self._incoming_webhook), methods=["POST"]),
            Route("/commands/{rest:path}", self._hook("commands", self._response_url), methods=["POST"]),
            Route("/actions/{rest:path}", self._hook("actions", self._response_url), methods=["POST"]),
        ]

    def asgi(self) -> Starlette:
        return Starlette(routes=self.routes())

    # -- the Web API ---------------------------------------------------------------

    def _auth_error(self, request: Request, params: dict[str, Any]) -> str | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else params.get("token")
        if not token:
            return "not_authed"
        return "invalid_auth" if self.token is not None and token != self.token else None

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _post_message(self, params: dict[str, Any]) -> Answer:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not any(params.get(key) for key in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        fields = {k: params[k] for k in _MESSAGE_FIELDS if k in params}
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts, **fields}
        self.messages.append({"channel": channel, **message})
        self.outbox.add("slack", "message", channel=channel, ts=ts, **fields)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _post_ephemeral(self, params: dict[str, Any]) -> Answer:
        channel, user = params.get("channel"), params.get("user")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}
        if not any(params.get(key) for key in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        self.outbox.add("slack", "ephemeral", channel=channel, ts=ts, user=user,
                        **{k: params[k] for k in _MESSAGE_FIELDS if k in params})
        return {"ok": True, "message_ts": ts}

    def _update_message(self, params: dict[str, Any]) -> Answer:
        channel, ts = params.get("channel"), params.get("ts")
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == ts:
                fields: dict[str, Any] = {k: params[k] for k in ("text", "blocks", "attachments") if k in params}
                message.update(fields)
                self.outbox.add("slack", "update", channel=channel, ts=ts, **fields)
                return {"ok": True, "channel": channel, "ts": ts, "text": message.get("text", "")}
        return {"ok": False, "error": "message_not_found"}

    def _lookup_by_email(self, params: dict[str, Any]) -> Answer:
        email = str(params.get("email") or "").lower()
        user = self.users.get(email)
        if user is None and self.open_directory and email and "unknown" not in email:
            user = self.add_user(email, id="U" + hashlib.sha1(email.encode()).hexdigest()[:8].upper())
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": user}

    def _open_conversation(self, params: dict[str, Any]) -> Answer:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            return {"ok": False, "error": "not_enough_users"}
        known = {user["id"] for user in self.users.values()}
        if not self.open_directory and any(user not in known for user in users):
            return {"ok": False, "error": "user_not_found"}
        key = ",".join(sorted(users))
        already = key in self.dms
        channel = self.dms.setdefault(key, f"D{len(self.dms) + 1:08d}")
        return {"ok": True, "channel": {"id": channel}, **({"no_op": True, "already_open": True} if already else {})}

    def _open_view(self, params: dict[str, Any]) -> Answer:
        view = params.get("view")
        if not params.get("trigger_id") or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        opened = {"id": f"V{len(self.views) + 1:08d}", "trigger_id": params["trigger_id"], **view}
        self.views.append(opened)
        return {"ok": True, "view": opened}

    # -- webhooks --------------------------------------------------------------------

    def _hook(self, prefix: str, handle: Callable[[str, Any], Response]) -> Callable[[Request], Awaitable[Response]]:
        """A webhook endpoint; ``handle`` gets its path as Slack's host sees it (wherever this app is mounted)."""

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                return PlainTextResponse("invalid_payload", status_code=400)
            return handle(f"/{prefix}/{request.path_params['rest']}", payload)

        return endpoint

    def _incoming_webhook(self, path: str, payload: Any) -> Response:
        self.webhook_posts.append({"path": path, "payload": payload})
        self.outbox.add("slack", "webhook", path=path, **_said(payload))
        return PlainTextResponse("ok")

    def _response_url(self, path: str, payload: Any) -> Response:
        if sum(1 for reply in self.replies if reply["path"] == path) >= REPLIES_PER_URL:
            return PlainTextResponse("used_url", status_code=404)
        self.replies.append({"path": path, "payload": payload})
        self.outbox.add("slack", "response", path=path, **_said(payload))
        return JSONResponse({"ok": True})


async def _params(request: Request) -> dict[str, Any]:
    """Slack reads arguments from the query, a form body or a JSON body alike."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    if "json" in request.headers.get("content-type", ""):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            params.update(parsed)
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _said(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        return {"payload": payload}
    return {k: payload[k] for k in _HOOK_FIELDS if k in payload}

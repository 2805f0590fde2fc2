"""Slack's and Microsoft Teams' outbound side, accepting any token and keeping what bots say.

Stories post replies as they would to the real services (``chat.postMessage``, a
``response_url``, an incoming webhook, the Bot Connector, a Workflows webhook); here every
post becomes an entry of :class:`Outbox`, which ``GET /_sandbox/messages?after=N`` lists
so a local chat console can show the bot's answers, buttons included.

Slack: ``/api/chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``users.lookupByEmail`` (every address is a user, except ones containing ``unknown``),
``conversations.open``, and ``/services/...``, ``/commands/...``, ``/actions/...`` posts.
Teams: the token endpoint, ``/v3/conversations`` (create, send, reply, update, members by
e-mail) under any region prefix, and ``/workflows/...``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

KEEP = 1000
"""Messages the outbox keeps (the oldest go first)."""

_CONNECTOR = re.compile(
    r"^(?P<base>.*?)/v3/conversations(?:/(?P<conversation>[^/]+)(?:/(?P<kind>activities|members)"
    r"(?:/(?P<item>[^/]+))?)?)?$"
)


class Outbox:
    """Everything the bot said, numbered; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._seq = itertools.count(1)

    def add(self, platform: str, kind: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            entry = {"seq": next(self._seq), "at": time.time(), "platform": platform, "kind": kind, **fields}
            self._entries.append(entry)
        return entry

    def after(self, seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self._entries if entry["seq"] > seq]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _user_id(email: str, prefix: str) -> str:
    return prefix + hashlib.sha1(email.lower().encode()).hexdigest()[:8].upper()


async def _slack_params(request: Request) -> dict[str, Any]:
    """Slack reads arguments from the query, a form body or a JSON body alike."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if "json" in request.headers.get("content-type", ""):
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            params.update(parsed)
    elif body:
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    return params


def _slack_token(request: Request, params: dict[str, Any]) -> str:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else str(params.get("token") or "")


def slack_routes(outbox: Outbox) -> list[Route]:
    ts = itertools.count(1)

    def api(handler: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            params = await _slack_params(request)
            if not _slack_token(request, params):
                return JSONResponse({"ok": False, "error": "not_authed"})
            return JSONResponse(handler(params))

        return endpoint

    def post(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def handler(params: dict[str, Any]) -> dict[str, Any]:
            channel = params.get("channel")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not any(params.get(key) for key in ("text", "blocks", "attachments")):
                return {"ok": False, "error": "no_text"}
            stamp = str(params.get("ts") or f"{int(time.time())}.{next(ts):06d}")
            fields = {k: params[k] for k in ("text", "blocks", "attachments", "thread_ts", "user") if k in params}
            outbox.add("slack", kind, channel=channel, ts=stamp, **fields)
            return {"ok": True, "channel": channel, "ts": stamp, "message": {"type": "message", "ts": stamp, **fields}}

        return handler

    def lookup(params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "")
        if not email or "unknown" in email.lower():
            return {"ok": False, "error": "users_not_found"}
        name = email.split("@")[0]
        return {"ok": True, "user": {"id": _user_id(email, "U"), "team_id": "T0SANDBOX", "name": name,
                                     "real_name": name.title(), "deleted": False, "is_bot": False,
                                     "profile": {"email": email, "real_name": name.title(), "display_name": name}}}

    def open_conversation(params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users") or "")
        if not users:
            return {"ok": False, "error": "not_enough_users"}
        return {"ok": True, "channel": {"id": "D" + hashlib.sha1(users.encode()).hexdigest()[:8].upper()}}

    def hook(kind: str, prefix: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                payload = json.loads(await request.body() or b"{}")
            except ValueError:
                return PlainTextResponse("invalid_payload", status_code=400)
            path = f"/{prefix}/{request.path_params['rest']}"
            outbox.add("slack", kind, path=path, **_slack_message(payload))
            return PlainTextResponse("ok")

        return endpoint

    return [
        Route("/api/chat.postMessage", api(post("message")), methods=["POST"]),
        Route("/api/chat.update", api(post("update")), methods=["POST"]),
        Route("/api/chat.postEphemeral", api(post("ephemeral")), methods=["POST"]),
        Route("/api/users.lookupByEmail", api(lookup), methods=["GET", "POST"]),
        Route("/api/conversations.open", api(open_conversation), methods=["POST"]),
        Route("/services/{rest:path}", hook("webhook", "services"), methods=["POST"]),
        Route("/commands/{rest:path}", hook("response", "commands"), methods=["POST"]),
        Route("/actions/{rest:path}", hook("response", "actions"), methods=["POST"]),
    ]


def _slack_message(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        return {"payload": payload}
    keys = ("text", "blocks", "attachments", "replace_original", "delete_original", "response_type", "thread_ts")
    return {k: payload[k] for k in keys if k in payload}


def teams_routes(outbox: Outbox) -> list[Route]:
    tokens: set[str] = set()
    ids = itertools.count(1)

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials" or not form.get("client_id"):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = f"sandbox-bot-token-{next(ids)}"
        tokens.add(issued)
        return JSONResponse({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                             "access_token": issued})

    async def connector(request: Request) -> Response:
        match = _CONNECTOR.match("/" + request.path_params["rest"])
        if match is None:
            return JSONResponse({"error": {"code": "NotFound"}}, status_code=404)
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in tokens:
            return JSONResponse({"error": {"code": "Unauthorized", "message": "bad bearer token"}}, status_code=401)
        conversation, kind, item, method = match["conversation"], match["kind"], match["item"], request.method
        if conversation is None and method == "POST":
            body = await request.json()
            members = body.get("members") if isinstance(body, dict) else None
            key = json.dumps(members, sort_keys=True)
            return JSONResponse({"id": "a:sandbox-" + hashlib.sha1(key.encode()).hexdigest()[:12]})
        if kind == "activities" and method in ("POST", "PUT"):
            activity = await request.json()
            sent_id = item if method == "PUT" else f"activity-{next(ids)}"
            outbox.add("teams", "update" if method == "PUT" else "message", conversation=conversation,
                       id=sent_id, reply_to=item if method == "POST" else None,
                       text=activity.get("text", ""), attachments=activity.get("attachments", []))
            return JSONResponse({"id": sent_id}, status_code=201 if method == "POST" else 200)
        if kind == "members" and method == "GET" and item:
            if "unknown" in item.lower():
                return JSONResponse({"error": {"code": "MemberNotFoundInConversation",
                                               "message": "The member was not found."}}, status_code=404)
            return JSONResponse({"id": _user_id(item, "29:"), "name": item.split("@")[0].title(), "email": item,
                                 "userPrincipalName": item, "objectId": _user_id(item, ""), "userRole": "user"})
        return JSONResponse({"error": {"code": "BadSyntax"}}, status_code=400)

    async def workflow(request: Request) -> Response:
        body = await request.json()
        outbox.add("teams", "webhook", path=f"/workflows/{request.path_params['rest']}",
                   attachments=body.get("attachments", []) if isinstance(body, dict) else [], payload=body)
        return Response(status_code=202)

    return [
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/workflows/{rest:path}", workflow, methods=["POST"]),
        Route("/{rest:path}", connector, methods=["GET", "POST", "PUT"]),
    ]

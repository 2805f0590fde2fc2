"""``storyline chat slack "TEXT"``: try a Slack bot against the local server, no workspace needed.

The console does what Slack does: it signs a slash command (or, for text without a
leading ``/``, an ``app_mention`` event) with the app's signing secret and posts it to
the story's Slack webhook on the running server. It shows the webhook's immediate
answer (what Slack would show the user at once), then the bot's later answers as they
arrive, buttons included.

Later answers travel as they would in production: the story calls
``https://hooks.slack.com/commands/...`` (the ``response_url`` the console sent) or
``https://slack.com/api/chat.postMessage``. The console serves the Slack stand-in
(:mod:`storyline.standins.slack`, the *sink*) for both, and the server is started with
``STORYLINE_EGRESS_OVERRIDES=slack.com=http://127.0.0.1:8765,hooks.slack.com=http://127.0.0.1:8765``
so those calls reach it instead of Slack; the console shows what the bot said to it.

Against ``storyline serve --demo`` nothing needs setting: the demo's sandbox already plays
Slack for the server and keeps what the bot said at ``/_sandbox/messages``, which the
console reads as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Connection

from storyline.chat.buttons import Button, slack_button, slack_click
from storyline.standins import outbox
from storyline.standins.slack import Slack
from storyline.store import tables as t
from storyline.urls import webhook_url
from storyline.verifiers.slack import sign

DEFAULT_SINK = "127.0.0.1:8765"
DEFAULT_CREDENTIAL = "slack_signing_secret"
CONSOLE_TEAM, CONSOLE_CHANNEL, CONSOLE_BOT = "TCONSOLE", "CCONSOLE", "UCONSOLEBOT"


class ConsoleError(Exception):
    """Why the console cannot send (no such webhook, no signing secret); shown to the user."""


@dataclass(frozen=True)
class Hook:
    """A webhook that verifies Slack signatures."""

    story: str
    name: str
    path: str
    secret: str
    signing_secret: Any

    def url(self, base: str) -> str:
        return webhook_url(base, self.path, self.secret)


def slack_hooks(conn: Connection) -> list[Hook]:
    a, s = t.actions.c, t.stories.c
    rows = conn.execute(
        sa.select(s.name.label("story"), a.name, a.webhook_path, a.webhook_secret, a.options)
        .join(t.stories, t.stories.c.id == a.story_id)
        .where(a.webhook_path.is_not(None)).order_by(s.name, a.position)
    )
    hooks = []
    for row in rows:
        spec = (row.options or {}).get("verification")
        if isinstance(spec, Mapping) and spec.get("type") == "slack":
            hooks.append(Hook(row.story, row.name, row.webhook_path, row.webhook_secret or "",
                              spec.get("signing_secret")))
    return hooks


def choose(hooks: list[Hook], wanted: str | None) -> Hook:
    """The webhook named by path, action or story name; the only one when none is named."""
    if wanted:
        path = wanted.strip("/").removeprefix("webhook/").split("/")[0]
        matches = [h for h in hooks if wanted in (h.story, h.name) or h.path == path]
    else:
        matches = hooks
    listed = "; ".join(f"{h.story} / {h.name} (/webhook/{h.path})" for h in hooks) or "none"
    if not matches:
        raise ConsoleError(f"no webhook with Slack verification matches {wanted!r} (there are: {listed})"
                           if wanted else "no story has a webhook with verification type slack; import one "
                           "(`storyline template show slack_receive` is a start)")
    if len(matches) > 1:
        raise ConsoleError(f"several webhooks verify Slack requests; choose one with --webhook: {listed}")
    return matches[0]


def credential_name(option: Any) -> str | None:
    """The credential a ``signing_secret`` option names, or None when it is written out."""
    text = option[0] if isinstance(option, list) and option else option
    if not isinstance(text, str):
        return None
    found = re.search(r"credential\s+[\"']?([A-Za-z0-9_][A-Za-z0-9_-]*)|CREDENTIAL\.([A-Za-z0-9_][A-Za-z0-9_-]*)",
                      text)
    if found:
        return found.group(1) or found.group(2)
    return None if not any(mark in text for mark in ("{{", "{%", "<<")) else DEFAULT_CREDENTIAL


# -- what the console sends --------------------------------------------------------------------------


def request(text: str, user: str) -> tuple[str, bytes]:
    """(content type, body) of what Slack would send for ``text`` typed by ``user``."""
    if text.startswith("/"):
        command, _, rest = text.partition(" ")
        form = {
            "team_id": CONSOLE_TEAM, "team_domain": "console", "channel_id": CONSOLE_CHANNEL,
            "channel_name": "console", "user_id": _user_id(user), "user_name": user, "command": command,
            "text": rest.strip(), "api_app_id": "ACONSOLE", "is_enterprise_install": "false",
            "response_url": _response_url(),
            "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
        }
        return "application/x-www-form-urlencoded", urlencode(form).encode()
    ts = f"{time.time():.6f}"
    envelope = {
        "team_id": CONSOLE_TEAM, "api_app_id": "ACONSOLE", "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(6).upper()}", "event_time": int(time.time()),
        "event": {"type": "app_mention", "user": _user_id(user), "text": f"<@{CONSOLE_BOT}> {text}", "ts": ts,
                  "channel": CONSOLE_CHANNEL, "event_ts": ts},
    }
    return "application/json", json.dumps(envelope).encode()


def click(button: Button, user: str, *, message: Mapping[str, Any] | None = None,
          channel: str = CONSOLE_CHANNEL) -> tuple[str, bytes]:
    """(content type, body) of the ``block_actions`` request Slack sends when ``user`` clicks ``button``.

    The request carries a fresh ``response_url``, as each click does, and the ``message`` the
    button is on when the caller has it (the playground does; the terminal console clicks by flags).
    """
    payload = slack_click(button, user_id=_user_id(user), user_name=user, team_id=CONSOLE_TEAM, channel_id=channel,
                          response_url=_response_url("actions"), message=message)
    return "application/x-www-form-urlencoded", urlencode({"payload": json.dumps(payload)}).encode()


def _response_url(kind: str = "commands") -> str:
    """A fresh ``response_url``: Slack's for a slash command (``commands``) or a click (``actions``)."""
    return f"https://hooks.slack.com/{kind}/{CONSOLE_TEAM}/{int(time.time())}/{secrets.token_hex(12)}"


def _user_id(name: str) -> str:
    return "U" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()


# -- what the console shows --------------------------------------------------------------------------


def render(message: Mapping[str, Any]) -> list[str]:
    """A Slack message as terminal lines: its blocks (buttons as ``[Label]``), else its text."""
    blocks = message.get("blocks")
    if isinstance(blocks, str):
        with contextlib.suppress(ValueError):
            blocks = json.loads(blocks)
    lines: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind in ("section", "header") and _text(block.get("text")):
            lines.extend(_text(block.get("text")).splitlines())
        lines.extend(line for field in block.get("fields") or [] for line in _text(field).splitlines())
        elements = block.get("elements") or []
        if kind == "context":
            lines.append(" ".join(_text(e) for e in elements if _text(e)))
        elif kind == "actions":
            lines.extend("  " + slack_button(e).describe() for e in elements
                         if isinstance(e, Mapping) and e.get("type") == "button")
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("type") == "button":
            lines.append("  " + slack_button(accessory).describe())
        if kind == "divider":
            lines.append("---")
    if not lines and message.get("text"):
        lines.extend(str(message["text"]).splitlines())
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, Mapping) and (attachment.get("text") or attachment.get("fallback")):
            lines.append(str(attachment.get("text") or attachment.get("fallback")))
    return lines


def _text(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return str(obj.get("text") or "")
    return str(obj) if isinstance(obj, str) else ""


@dataclass(frozen=True)
class Answer:
    """One thing the bot sent: where (``chat.postMessage``, ``response_url``, ...) and the message."""

    via: str
    message: Mapping[str, Any]

    def lines(self) -> list[str]:
        channel = self.message.get("channel")
        where = f"{self.via} {channel}" if channel else self.via
        body = render(self.message)
        if self.via in ("users.lookupByEmail", "conversations.open") or not body:
            details = ", ".join(f"{k}={v}" for k, v in self.message.items() if k not in ("token",))
            return [f"bot ({where}) {details}".rstrip()]
        return [f"bot ({where}): {body[0]}", *(f"    {line}" for line in body[1:])]


# -- the conversation ------------------------------------------------------------------------------


NOTE_AFTER = 3.0
"""Seconds of silence, while the story still works, before the console says it is waiting."""
SETTLE = 0.4
"""Seconds to keep listening once the story has no work left: its last answers are in flight (the demo's
outbox is read every 0.25 s)."""


async def converse(
    url: str, content_type: str, body: bytes, signing_secret: str, sink: str, wait: float,
    show: Callable[[str], None], *, working: Callable[[], Awaitable[bool]] | None = None,
    note: Callable[[str], None] = lambda line: None,
) -> int:
    """Send the signed request and show every answer; the count.

    With ``working`` (is the story still running what this request started?) the console ends as
    soon as the story is done and its answers are in; while it still works (a timer, a slow source)
    it says so once through ``note`` and waits until ``wait`` seconds pass without an answer.
    """
    answers: asyncio.Queue[Answer] = asyncio.Queue()
    host, _, port = sink.rpartition(":")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host or "127.0.0.1", int(port)))
    except (OSError, ValueError) as exc:
        listener.close()
        raise ConsoleError(f"cannot listen on {sink} for the bot's answers ({exc}); choose another --sink") from None
    slack = Slack(open_directory=True)
    slack.outbox.listen(lambda entry: answers.put_nowait(_answer(entry)))
    server = uvicorn.Server(uvicorn.Config(slack.asgi(), log_config=None, log_level="warning",
                                           access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    polling: asyncio.Task[None] | None = None
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(timeout=10) as client:
            base = url.split("/webhook/")[0]
            seen = await outbox.newest(client, base)
            try:
                response = await client.post(url, content=body, headers={
                    "content-type": content_type, **sign(signing_secret, body)})
            except httpx.HTTPError as exc:
                raise ConsoleError(f"cannot reach {base}: {exc} (is `storyline serve` "
                                   "running? --url says where)") from None
        if seen is not None:
            polling = asyncio.create_task(
                outbox.follow(base, seen, "slack", lambda entry: answers.put_nowait(_answer(entry))))
        if response.status_code >= 300:
            raise ConsoleError(f"the server answered HTTP {response.status_code}: {response.text[:300]}")
        immediate = response.text.strip()
        if immediate:
            try:
                shown = Answer("reply", json.loads(immediate))
            except ValueError:
                shown = Answer("reply", {"text": immediate})
            for line in shown.lines():
                show(line)
        count = 0
        quiet_since = time.monotonic()
        noted = False
        while True:
            try:
                answer = await asyncio.wait_for(answers.get(), timeout=SETTLE if working else wait)
            except TimeoutError:
                if working is None or time.monotonic() - quiet_since >= wait:
                    return count
                if not await working():
                    await asyncio.sleep(SETTLE)  # the last answer may still be on its way
                    while not answers.empty():
                        count += 1
                        for line in answers.get_nowait().lines():
                            show(line)
                    return count
                if not noted and time.monotonic() - quiet_since >= NOTE_AFTER:
                    note(f"(the story is still working; waiting up to {wait:g}s for more answers, Ctrl-C stops)")
                    noted = True
                continue
            count += 1
            quiet_since = time.monotonic()
            for line in answer.lines():
                show(line)
    finally:
        if polling is not None:
            polling.cancel()
        server.should_exit = True
        await serving
        listener.close()


# -- what the bot said to a Slack stand-in: the console's own, or the demo's ---------------------

_VIA = {"message": "chat.postMessage", "update": "chat.update", "ephemeral": "chat.postEphemeral",
        "webhook": "incoming webhook", "response": "response_url"}


def _answer(entry: Mapping[str, Any]) -> Answer:
    """An outbox entry (:mod:`storyline.standins.outbox`) as the console shows it."""
    message = {k: v for k, v in entry.items() if k not in ("seq", "at", "platform", "kind", "ts", "path")}
    return Answer(_VIA.get(str(entry.get("kind")), str(entry.get("kind"))), message)

"""The ``storyline chat teams`` console: talk to a Teams bot as the Bot Connector would.

A Teams bot can only be reached through the Bot Connector, which signs each activity
with a key Microsoft publishes. The console signs with a local ``ConnectorKey`` and serves
the Bot Framework stand-in (:mod:`storyline.standins.botframework`) publishing that key, so a
storyline server whose egress overrides point ``login.botframework.com`` here accepts the
activities exactly as it would accept Microsoft's: nothing in the server is switched off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from storyline.chat.buttons import MAX_DEPTH, teams_button
from storyline.standins import outbox
from storyline.standins.botframework import BotFramework, ConnectorKey, channel_message

CONSOLE_SERVICE_URL = "https://smba.trafficmanager.net/storyline-console/"
CONSOLE_HOSTS = ("login.botframework.com", "login.microsoftonline.com", "smba.trafficmanager.net")
BOT_NAME = "Storyline"


def console_overrides(port: int) -> str:
    """What the server's ``STORYLINE_EGRESS_OVERRIDES`` needs so this console stands in for Microsoft."""
    return ",".join(f"{host}=http://127.0.0.1:{port}" for host in CONSOLE_HOSTS)


def console_activity(text: str, app_id: str, *, user: str = "Console User", value: Any = None) -> dict[str, Any]:
    """A message as Teams delivers a channel @mention of the bot (or, with ``value``, an Action.Submit click)."""
    return channel_message(
        text, app_id, service_url=CONSOLE_SERVICE_URL, conversation="19:storyline-console@thread.tacv2;messageid=1",
        tenant_id="storyline-console", bot_name=BOT_NAME, value=value,
        sender={"id": "29:storyline-console-user", "name": user, "aadObjectId": "00000000-0000-0000-0000-00000000c0de"})


def describe(activity: Mapping[str, Any]) -> list[str]:
    """A bot's message as lines of text: its text, its cards' text, and every button where the card shows it,
    with what clicks it."""
    lines = str(activity["text"]).splitlines() if activity.get("text") else []
    for attachment in activity.get("attachments") or []:
        content = attachment.get("content") if isinstance(attachment, Mapping) else None
        if isinstance(content, Mapping):
            lines.extend(_card_lines(content, 0))
    return lines


def _card_lines(element: Mapping[str, Any], depth: int) -> list[str]:
    """An Adaptive Card element's text, facts and buttons, its containers' in order."""
    if depth > MAX_DEPTH:
        return []
    lines = str(element["text"]).splitlines() if element.get("text") and depth else []
    for fact in element.get("facts") or []:
        if isinstance(fact, Mapping):
            lines.append(f"{fact.get('title')}: {fact.get('value')}")
    for key in ("body", "items", "columns"):
        for child in element.get(key) or []:
            if isinstance(child, Mapping):
                lines.extend(_card_lines(child, depth + 1))
    lines.extend("  " + teams_button(action).describe() for action in element.get("actions") or []
                 if isinstance(action, Mapping))
    return lines


def connector_app(key: ConnectorKey, replies: asyncio.Queue[dict[str, Any]]) -> Starlette:
    """Microsoft's side, locally: the one Bot Framework stand-in, queueing what the bot sends."""
    microsoft = BotFramework(key=key, open_directory=True)
    microsoft.outbox.listen(lambda entry: replies.put_nowait(_reply(entry)))
    return microsoft.asgi()


def _reply(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An outbox entry (:mod:`storyline.standins.outbox`) as the console describes it."""
    return {"updated": entry.get("kind") == "update", "text": entry.get("text", ""),
            "attachments": entry.get("attachments", [])}


async def chat(
    webhook_url: str, text: str, app_id: str, key: ConnectorKey, *, port: int, value: Any = None,
    user: str = "Console User", wait: float = 15.0, quiet: float = 2.0, out: Callable[[str], None] = print,
) -> int:
    """Send one signed activity to ``webhook_url`` and print the bot's answers; the exit status."""
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    config = uvicorn.Config(connector_app(key, replies), host="127.0.0.1", port=port, log_config=None,
                            log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    following: asyncio.Task[None] | None = None
    try:
        while not server.started:
            if serving.done():
                out(f"cannot serve the local Bot Connector on 127.0.0.1:{port} (in use? try --port)")
                return 2
            await asyncio.sleep(0.01)
        activity = console_activity(text, app_id, user=user, value=value)
        token = key.sign(app_id, CONSOLE_SERVICE_URL)
        base = webhook_url.split("/webhook/")[0]
        async with httpx.AsyncClient(timeout=30) as client:
            seen = await outbox.newest(client, base)  # serve --demo: its stand-in gets the replies
            try:
                answer = await client.post(webhook_url, json=activity, headers={"authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                out(f"cannot reach {webhook_url}: {exc}")
                return 1
        if seen is not None:
            following = asyncio.create_task(outbox.follow(base, seen, "teams", lambda entry: replies.put_nowait(
                _reply(entry))))
        if answer.status_code >= 300:
            out(f"the webhook answered {answer.status_code}: {answer.text[:300]}")
            if answer.status_code in (401, 500):
                out(f"is the server running with STORYLINE_EGRESS_OVERRIDES={console_overrides(port)} "
                    "and this --app-id?")
            return 1
        out(f"you: {text}" if text else f"you clicked: {json.dumps(value)}")
        return await _print_replies(replies, wait, quiet, out)
    finally:
        if following is not None:
            following.cancel()
        server.should_exit = True
        await serving


async def _print_replies(
    replies: asyncio.Queue[dict[str, Any]], wait: float, quiet: float, out: Callable[[str], None]
) -> int:
    count = 0
    while True:
        try:
            reply = await asyncio.wait_for(replies.get(), timeout=quiet if count else wait)
        except TimeoutError:
            if not count:
                out(f"(no reply within {wait:g}s)")
            return 0
        count += 1
        lines = describe(reply) or ["(an empty message)"]
        out(("bot (updated its card): " if reply.get("updated") else "bot: ") + lines[0])
        for line in lines[1:]:
            out("  " + line)

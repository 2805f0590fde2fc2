"""One line per request on ``serve``'s console (logger ``storyline.access``, INFO), as every server prints.

The line never holds a secret: a webhook's path keeps its first segment only (the rest is its
secret), and no query string is shown (prompt links carry their signature there). ``serve
--quiet`` leaves the logger at WARNING, and then this costs one level check per request.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("storyline.access")

UNLOGGED = frozenset({"/_sandbox/messages", "/playground/slack/transcript", "/playground/teams/transcript"})
"""Paths polled while a chat console or a playground tab is open (the terminal consoles four times
a second, the playground once a second per conversation): a line each would bury everything else."""

MAX_PATH = 120
"""A request line is the client's: the console shows this much of it."""


def shown_path(path: str) -> str:
    """The path as the console may show it: a webhook's secret and anything past MAX_PATH cut."""
    if path.startswith("/webhook/"):
        hook, _, secret = path.removeprefix("/webhook/").partition("/")
        path = f"/webhook/{hook}" + ("/…" if secret else "")
    path = "".join(ch if ch.isprintable() else "?" for ch in path)
    return path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"


class RequestLog:
    """ASGI middleware: ``client METHOD path status duration`` once the answer has started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO) or scope.get("path") in UNLOGGED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = (scope.get("client") or ("-",))[0]
            log.info("%s %s %s %d %.0fms", client, scope.get("method", "-"), shown_path(scope.get("path", "")),
                     status, (time.perf_counter() - started) * 1000)

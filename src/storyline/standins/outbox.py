"""What bots said to the stand-ins, numbered, for ``GET /_sandbox/messages`` and the chat consoles.

A console serving its own stand-in listens to its outbox; against ``serve --demo`` the stand-ins
live in the server, and the console follows their outbox over HTTP (:func:`newest`, :func:`follow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

PATH = "/_sandbox/messages"
KEEP = 1000
"""Messages the outbox keeps (the oldest go first)."""


class Outbox:
    """Everything the bot said, numbered; safe to use from any thread.

    ``listen`` hands each new entry to a callback as well, so a console serving a stand-in
    in its own event loop sees an answer the moment it arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._seq = itertools.count(1)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def add(self, platform: str, kind: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            entry = {"seq": next(self._seq), "at": time.time(), "platform": platform, "kind": kind, **fields}
            self._entries.append(entry)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(entry)
        return entry

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def after(self, seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self._entries if entry["seq"] > seq]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


async def newest(client: httpx.AsyncClient, base: str) -> int | None:
    """The newest message number of a ``serve --demo`` server at ``base``, or None when it has no sandbox."""
    try:
        response = await client.get(f"{base}{PATH}")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    entries = response.json()
    entries = entries.get("messages", []) if isinstance(entries, dict) else entries
    return max((int(entry["seq"]) for entry in entries), default=0)


async def follow(base: str, seen: int, platform: str, on_entry: Callable[[dict[str, Any]], None]) -> None:
    """Hand each ``platform`` entry after ``seen`` to ``on_entry`` as the server at ``base`` adds it (until cancelled)."""
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await client.get(f"{base}{PATH}", params={"after": seen})
                entries = response.json()
                entries = entries.get("messages", []) if isinstance(entries, dict) else entries
                for entry in entries:
                    seen = max(seen, int(entry["seq"]))
                    if entry.get("platform") == platform:
                        on_entry(entry)
            await asyncio.sleep(0.25)

"""What bots said to the stand-ins, numbered, for ``GET /_sandbox/messages`` and the chat consoles."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

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

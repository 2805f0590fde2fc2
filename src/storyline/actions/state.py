"""Per-action memory for the stateful transform modes (deduplicate, implode, throttle)."""

from __future__ import annotations

from typing import Any, Protocol


class ActionState(Protocol):
    """Buckets of JSON values an action keeps between runs, in the same transaction as its events."""

    def append(self, bucket: str, value: Any) -> None: ...

    def items(self, bucket: str, *, limit: int | None = None, since: float | None = None) -> list[Any]:
        """Newest last; ``limit`` keeps the newest N, ``since`` drops entries older than that epoch time."""
        ...

    def clear(self, bucket: str) -> None: ...

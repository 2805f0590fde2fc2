"""An in-memory ActionState for unit tests: same contract as the SQL one, no database.

Entries are stamped with ``now`` at append time, like ``SqlActionState`` stamps
``created_at`` with the run's clock; tests move ``now`` along with the run context.
"""

from __future__ import annotations

import copy
from typing import Any


class MemoryState:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.buckets: dict[str, list[tuple[float, Any]]] = {}

    def append(self, bucket: str, value: Any) -> None:
        # Copy, as a database would: callers must not be able to mutate what was stored.
        self.buckets.setdefault(bucket, []).append((self.now, copy.deepcopy(value)))

    def items(self, bucket: str, *, limit: int | None = None, since: float | None = None) -> list[Any]:
        entries = self.buckets.get(bucket, [])
        if since is not None:
            entries = [entry for entry in entries if entry[0] >= since]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [copy.deepcopy(value) for _, value in entries]

    def clear(self, bucket: str) -> None:
        self.buckets.pop(bucket, None)

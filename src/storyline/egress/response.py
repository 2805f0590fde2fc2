"""A fully read HTTP response as actions see it, and how to read its ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC
from typing import Any

from storyline import jsondata


class EgressResponse:
    """A fully read response: what actions need, nothing that keeps a connection open.

    ``text`` and ``json`` are decoded on first use only; most callers need one of them.
    """

    __slots__ = ("_json", "_text", "body", "headers", "status", "url")

    _UNSET: Any = object()

    def __init__(self, status: int, headers: dict[str, str], body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self._text: str | None = None
        self._json: Any = self._UNSET

    @property
    def text(self) -> str:
        """The body decoded with the charset the server declared (UTF-8 otherwise), never failing."""
        if self._text is None:
            charset = _charset(self.headers.get("content-type", "")) or "utf-8"
            try:
                self._text = self.body.decode(charset, errors="replace")
            except LookupError:
                self._text = self.body.decode("utf-8", errors="replace")
        return self._text

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        if self._json is self._UNSET:
            try:
                # No depth limit here: an action's output is held to it when it is recorded.
                self._json = jsondata.loads(self.body, max_depth=None) if self.body else None
            except jsondata.JsonError:
                self._json = None
        return self._json

    @property
    def is_json(self) -> bool:
        """Whether the server labelled the body as JSON (``application/json``, ``+json``)."""
        return "json" in self.headers.get("content-type", "").lower()

    def __repr__(self) -> str:
        return f"<EgressResponse {self.status} {self.url} {len(self.body)} bytes>"


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``now`` is the caller's clock (epoch seconds) so tests and the engine agree on
    time. Returns ``None`` when the header is absent or unreadable, so the caller
    falls back to its own backoff instead of retrying at once.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)

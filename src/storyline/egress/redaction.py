"""Keep credential values out of events, logs and error messages.

Tines shows ``[credential]`` wherever a credential's value would appear in an event;
storyline does the same for anything it records. This module only knows values, not
where they came from, so it stays usable by the engine, the web UI and the logs alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

PLACEHOLDER = "[credential]"
MIN_SECRET_LENGTH = 4
"""Shorter values are left alone: redacting "a" or "123" would shred ordinary text."""

T = TypeVar("T")


class _Redactor:
    """One compiled alternation of secrets and what each is replaced by."""

    __slots__ = ("labels", "pattern")

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        # Longest first so a secret that contains another is replaced whole.
        ordered = sorted(labels, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def sub(self, text: str) -> str:
        return self.pattern.sub(lambda match: self.labels[match.group(0)], text)


@lru_cache(maxsize=256)
def _redactor(secrets: frozenset[tuple[str, str]]) -> _Redactor | None:
    labels = {secret: label for secret, label in secrets if len(secret) >= MIN_SECRET_LENGTH}
    return _Redactor(labels) if labels else None


def redact(value: T, secrets: Iterable[str] | Mapping[str, str]) -> T:
    """Return ``value`` with every secret (of length >= 4) replaced by its placeholder.

    ``secrets`` is either plain values, each replaced by ``[credential]``, or a mapping
    of value to the text that replaces it (the engine uses ``[credential:name]``).
    Works on strings, bytes and JSON-like structures (dicts, lists, tuples; values
    only, keys are left as they are) and returns the same type; anything else is
    returned unchanged. The input is never modified.
    """
    pairs = secrets.items() if isinstance(secrets, Mapping) else ((s, PLACEHOLDER) for s in secrets)
    redactor = _redactor(frozenset((s, label) for s, label in pairs if isinstance(s, str) and s))
    if redactor is None:
        return value
    return _redact(value, redactor)


def _redact(value: Any, redactor: _Redactor) -> Any:
    if isinstance(value, str):
        return redactor.sub(value)
    if isinstance(value, dict):
        return {key: _redact(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, redactor) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, redactor) for item in value)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="surrogateescape")
        redacted = redactor.sub(text).encode("utf-8", errors="surrogateescape")
        return type(value)(redacted)
    return value

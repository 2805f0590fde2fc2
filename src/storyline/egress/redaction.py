"""Keep credential values out of events, logs and error messages.

Tines shows ``[credential]`` wherever a credential's value would appear in an event;
storyline does the same for anything it records. This module only knows values, not
where they came from, so it stays usable by the engine, the web UI and the logs alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, TypeVar

PLACEHOLDER = "[credential]"
MIN_SECRET_LENGTH = 4
"""Shorter values are left alone: redacting "a" or "123" would shred ordinary text."""

T = TypeVar("T")


@lru_cache(maxsize=256)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    usable = sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    if not usable:
        return None
    # Longest first so a secret that contains another is replaced whole.
    return re.compile("|".join(re.escape(s) for s in usable))


def redact(value: T, secrets: Iterable[str]) -> T:
    """Return ``value`` with every secret (of length >= 4) replaced by ``[credential]``.

    Works on strings, bytes and JSON-like structures (dicts, lists, tuples; values
    only, keys are left as they are) and returns the same type; anything else is
    returned unchanged. The input is never modified.
    """
    pattern = _pattern(frozenset(s for s in secrets if isinstance(s, str) and s))
    if pattern is None:
        return value
    return _redact(value, pattern)


def _redact(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(PLACEHOLDER, value)
    if isinstance(value, dict):
        return {key: _redact(item, pattern) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, pattern) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, pattern) for item in value)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="surrogateescape")
        redacted = pattern.sub(PLACEHOLDER, text).encode("utf-8", errors="surrogateescape")
        return type(value)(redacted)
    return value

"""Keep credential values out of events, logs and error messages.

Tines shows ``[credential]`` wherever a credential's value would appear in an event;
storyline does the same for anything it records. This module only knows values, not
where they came from, so it stays usable by the engine, the web UI and the logs alike.

A value is rarely quoted only as written: an HTTP library's error shows it as Python
``repr`` (``b'key\\n'``), an echoing upstream returns it JSON-escaped, URL-encoded (as
``quote`` writes it, as a URL keeps it with ``@!();`` as they are, in lower-case ``%xx``)
or as hex, and ``basic_auth`` sends it as base64 of ``user:secret``. Each secret's written forms
are worked out once (``Redactor``), so recording stays one regex pass per string.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

PLACEHOLDER = "[credential]"
MIN_SECRET_LENGTH = 4
"""Shorter values are left alone: redacting "a" or "123" would shred ordinary text."""
MIN_BASE64_CORE = 6
"""Base64 fragments shorter than this are not looked for: in a long base64 body (an
attachment) a shorter one would turn up by chance and take the whole body with it."""

MIN_HEX_BYTES = 8
"""Hex of a shorter value (under 16 digits) could turn up by chance in a body of hashes."""
URL_KEPT = "!$&'()*+,;=:@/?[]~"
"""What a URL may carry as it is in a path or query (RFC 3986), so what httpx, browsers and
echoing servers leave unencoded there, where ``quote`` encodes it."""
_PERCENT = re.compile(r"%[0-9A-F]{2}")

_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_URLSAFE = str.maketrans("+/", "-_")

T = TypeVar("T")


@lru_cache(maxsize=4096)
def written_forms(secret: str) -> frozenset[str]:
    """The ways ``secret`` is spelt in text it may reach: as is, ``repr``-escaped (of the text
    and of its UTF-8 bytes), JSON-escaped (with and without ASCII escapes), URL-encoded
    (``%20`` and ``+`` for spaces, ``/`` or all of :data:`URL_KEPT` kept or not, ``%xx`` in
    either case) and, when long enough, as the hex of its UTF-8 bytes."""
    data = secret.encode("utf-8", errors="surrogateescape")
    encoded = {quote(secret, safe=""), quote(secret), quote(secret, safe=URL_KEPT), quote_plus(secret)}
    found = {
        secret,
        repr(secret)[1:-1],
        repr(data)[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        *encoded,
        *(_PERCENT.sub(lambda m: m.group().lower(), form) for form in encoded),
    }
    if len(data) >= MIN_HEX_BYTES:
        found.update((data.hex(), data.hex().upper()))
    return frozenset(form for form in found if len(form) >= MIN_SECRET_LENGTH)


@lru_cache(maxsize=4096)
def base64_cores(secret: str) -> frozenset[str]:
    """The part of any base64 text holding ``secret`` that depends on the secret alone.

    Base64 encodes 3 bytes as 4 characters, so how a secret is spelt inside a longer
    encoded text (``user:secret`` in a Basic ``Authorization``) depends only on where it
    starts modulo 3. For each of the three offsets the characters made of the secret's
    bits alone are the same whatever surrounds it; the characters at its edges, mixed
    with its neighbours' bits, are not, and are left out (``Redactor`` takes the whole
    base64 run that contains a core). URL-safe base64 is covered too.
    """
    data = secret.encode("utf-8", errors="surrogateescape")
    cores: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode("ascii")
        core = encoded[-(-8 * shift // 6): 8 * (shift + len(data)) // 6]
        if len(core) >= MIN_BASE64_CORE:
            cores.update((core, core.translate(_URLSAFE)))
    return frozenset(cores)


class Redactor:
    """Replaces secrets, in every written form, by their labels.

    Built from ``{secret: label}`` once per set of secrets (the engine builds one when its
    credentials change); calling it redacts strings, bytes and JSON-like structures.
    """

    __slots__ = ("_cores", "_labels", "_pattern")

    def __init__(self, secrets: Mapping[str, str]) -> None:
        labels: dict[str, str] = {}
        cores: set[str] = set()
        for secret, label in secrets.items():
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            labels.update(dict.fromkeys(written_forms(secret) - labels.keys(), label))
            fragments = base64_cores(secret) - labels.keys()
            labels.update(dict.fromkeys(fragments, label))
            cores.update(fragments)
        self._labels = labels
        self._cores = frozenset(cores)
        # Longest first so a secret that contains another is replaced whole.
        ordered = sorted(labels, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def find(self, text: str) -> str | None:
        """The label of the first secret ``text`` holds in any form, or None."""
        match = self._pattern.search(text) if self._pattern is not None else None
        return None if match is None else self._labels[match.group()]

    def __call__(self, value: T) -> T:
        """``value`` with every secret replaced; the input is never modified."""
        return value if self._pattern is None else self._redact(value)

    def _redact(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._sub(value)
        if isinstance(value, dict):
            # Keys too: an upstream may echo a value as a name (``?<api key>`` comes back as an argument).
            return {self._redact(key): self._redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._redact(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._redact(item) for item in value)
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("utf-8", errors="surrogateescape")
            redacted = self._sub(text).encode("utf-8", errors="surrogateescape")
            return type(value)(redacted)
        return value

    def _sub(self, text: str) -> str:
        assert self._pattern is not None
        pieces: list[str] = []
        done = 0
        for match in self._pattern.finditer(text):
            start, end = match.span()
            if start < done:
                continue  # inside a base64 run already replaced
            form = match.group()
            if form in self._cores:
                # The whole base64 run: its edges carry bits of the secret too.
                while start > done and text[start - 1] in _BASE64_CHARS:
                    start -= 1
                while end < len(text) and text[end] in _BASE64_CHARS:
                    end += 1
                while end < len(text) and text[end] == "=":
                    end += 1
            pieces.append(text[done:start])
            pieces.append(self._labels[form])
            done = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)


@lru_cache(maxsize=256)
def _redactor(secrets: frozenset[tuple[str, str]]) -> Redactor:
    return Redactor(dict(secrets))


def redact(value: T, secrets: Iterable[str] | Mapping[str, str]) -> T:
    """Return ``value`` with every secret (of length >= 4) replaced by its placeholder.

    ``secrets`` is either plain values, each replaced by ``[credential]``, or a mapping
    of value to the text that replaces it (the engine uses ``[credential:name]``).
    Works on strings, bytes and JSON-like structures (dicts, lists, tuples; their keys
    too) and returns the same type; anything else is
    returned unchanged. The input is never modified. Callers that redact often with
    the same secrets keep a ``Redactor`` instead.
    """
    pairs = secrets.items() if isinstance(secrets, Mapping) else ((s, PLACEHOLDER) for s in secrets)
    return _redactor(frozenset((s, label) for s, label in pairs if isinstance(s, str) and s))(value)

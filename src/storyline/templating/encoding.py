"""Hashes, HMACs and encodings: one table of operations behind the Liquid filters and the formula functions.

A story may sign in one dialect and check in the other (``{{ body | hmac_sha256: key }}``
here, ``HMAC_SHA256(body, key)`` there); both read :data:`OPERATIONS`, so they agree byte
for byte. An operation reads its input as text the way Tines prints it
(:func:`~storyline.templating.values.to_text`) in UTF-8, or as the bytes behind a
:class:`BinaryText`; input it cannot decode raises ``ValueError`` with a short reason,
which each dialect reports under the name the story used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable
from typing import Any

from .values import is_missing, to_text

Operation = Callable[..., str]


class BinaryText(str):
    """Text decoded from base64 that remembers its original bytes.

    Ruby strings are byte strings, so ``base64_decode | eml_parse`` is lossless in Tines;
    carrying the bytes keeps it lossless here even when they are not valid UTF-8.
    """

    __slots__ = ("raw",)
    raw: bytes

    def __new__(cls, raw: bytes) -> BinaryText:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        obj = super().__new__(cls, text)
        obj.raw = raw
        return obj


def to_bytes(value: Any) -> bytes:
    """The bytes an operation works on: a :class:`BinaryText`'s own, else the text in UTF-8."""
    if isinstance(value, BinaryText):
        return value.raw
    if isinstance(value, bytes):
        return value
    return to_text(value).encode("utf-8")


def _hmac(algorithm: str, *, b64: bool = False) -> Operation:
    def operation(value: Any, key: Any = "") -> str:
        mac = hmac.new(to_bytes(key), to_bytes(value), algorithm)
        return base64.b64encode(mac.digest()).decode("ascii") if b64 else mac.hexdigest()

    operation.__doc__ = f"HMAC-{algorithm.upper()} of the input with the given key."
    return operation


def _digest(algorithm: str, *, b64: bool = False) -> Operation:
    def operation(value: Any) -> str:
        h = hashlib.new(algorithm, to_bytes(value))
        return base64.b64encode(h.digest()).decode("ascii") if b64 else h.hexdigest()

    operation.__doc__ = f"{algorithm.upper()} digest of the input."
    return operation


def _pad(text: str) -> str:
    text = "".join(text.split())
    return text + "=" * (-len(text) % 4)


def base64_encode(value: Any) -> str:
    """Standard base64 of the input's bytes."""
    return base64.b64encode(to_bytes(value)).decode("ascii")


def base64_decode(value: Any) -> str:
    """Decode standard base64 (padding optional); keeps the raw bytes for ``eml_parse``."""
    if is_missing(value):
        return ""
    try:
        return BinaryText(base64.b64decode(_pad(to_text(value))))
    except (binascii.Error, ValueError) as err:
        raise ValueError("invalid base64") from err


def base64url_encode(value: Any) -> str:
    """URL-safe base64 of the input's bytes."""
    return base64.urlsafe_b64encode(to_bytes(value)).decode("ascii")


def base64url_decode(value: Any) -> str:
    """Decode URL-safe base64 (Gmail's ``raw`` messages); padding optional."""
    if is_missing(value):
        return ""
    try:
        return BinaryText(base64.urlsafe_b64decode(_pad(to_text(value))))
    except (binascii.Error, ValueError) as err:
        raise ValueError("invalid base64") from err


def url_encode(value: Any, encoding: Any = "form") -> str:
    """Percent-encode every URL-unsafe character; a space is ``+`` (form, Ruby's ``CGI.escape``) or ``%20`` (uri)."""
    text = to_text(value)
    return urllib.parse.quote(text, safe="") if encoding == "uri" else urllib.parse.quote_plus(text, safe="")


def url_decode(value: Any, encoding: Any = "form") -> str:
    """Undo percent-encoding; ``+`` is a space in form encoding only."""
    text = to_text(value)
    return urllib.parse.unquote(text) if encoding == "uri" else urllib.parse.unquote_plus(text)


OPERATIONS: dict[str, Operation] = {
    "md5": _digest("md5"),
    "md5_base64": _digest("md5", b64=True),
    "sha1": _digest("sha1"),
    "sha256": _digest("sha256"),
    "sha512": _digest("sha512"),
    "hmac_sha1": _hmac("sha1"),
    "hmac_sha256": _hmac("sha256"),
    "hmac_sha512": _hmac("sha512"),
    "hmac_sha1_base64": _hmac("sha1", b64=True),
    "hmac_sha256_base64": _hmac("sha256", b64=True),
    "base64_encode": base64_encode,
    "base64_decode": base64_decode,
    "base64url_encode": base64url_encode,
    "base64url_decode": base64url_decode,
    "url_encode": url_encode,
    "url_decode": url_decode,
}
"""Each operation by its Liquid filter name; formulas call it by the upper-case name (``HMAC_SHA256``)."""

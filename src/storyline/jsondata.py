"""JSON as storyline reads, stores and prints it: integers kept exact, nesting bounded.

orjson is fast, but it reads an integer wider than 64 bits as a float
(``123456789012345678901234567890`` became ``1.2345678901234568e+29``), refuses to write
one, and writes at most 254 levels of nesting. So orjson does the work, and the standard
library takes over only where orjson cannot be exact: reading a document with a run of
19 or more digits (a candidate for such an integer), and writing what orjson refused.
The common case pays one scan of the bytes on reads (about as long as orjson's parse)
and nothing on writes. (A number beyond a
double's range, some 309 digits, is refused, as orjson refuses it.)

``MAX_DEPTH`` bounds what storyline accepts from outside and from actions: a webhook body
nested deeper is refused (400), an action output nested deeper fails that action. An
event adds at most a few levels on top (its action's key, a webhook's headers and body),
so every reader (orjson or not) handles every event storyline stores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

MAX_DEPTH = 64
"""The deepest nesting of objects and arrays accepted in a webhook body or an action output."""

# Integers orjson reads exactly have at most 19 digits (i64) or 20 (u64 up to 18446744073709551615);
# a document with a run of 19 digits or more is read again by the standard library, which is exact
# for all. The run is found by mapping every digit to "0" and everything else to " " and searching
# for 19 zeros: some ten times faster than a regex over the document.
_DIGITS_ONLY = bytes(ord("0") if chr(byte).isdigit() and byte < 128 else ord(" ") for byte in range(256))
_LONG_NUMBER = b"0" * 19
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class JsonError(ValueError):
    """Not JSON storyline accepts; the message says why, for the one who sent it."""


def loads(data: bytes | str, *, max_depth: int | None = MAX_DEPTH) -> Any:
    """Parse JSON with integers of any width kept exact; deeper than ``max_depth`` is a JsonError."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise JsonError(_too_deep(max_depth)) from None
        raise JsonError(f"not valid JSON: {exc}") from None
    raw = data if isinstance(data, bytes) else data.encode()
    if _LONG_NUMBER in raw.translate(_DIGITS_ONLY):
        # orjson has checked it is JSON (and rejected NaN and lone surrogates); now read it exactly.
        try:
            value = json.loads(data)
        except RecursionError:
            raise JsonError(_too_deep(max_depth)) from None
        except ValueError as exc:  # an integer of more than sys.get_int_max_str_digits() digits
            raise JsonError(f"not valid JSON: {exc}") from None
    if max_depth is not None and deeper_than(value, max_depth, data):
        raise JsonError(_too_deep(max_depth))
    return value


def _too_deep(max_depth: int | None) -> str:
    return f"JSON nested deeper than {max_depth or MAX_DEPTH} levels of objects and arrays; send it flatter"


def dumpb(value: Any, *, indent: bool = False, default: Callable[[Any], Any] | None = None) -> bytes:
    """Write JSON as UTF-8; integers of any width are written exactly (by the standard library, then).

    ``default`` converts what JSON has no type for (as in ``json.dumps``); without it that is a JsonError.
    """
    try:
        return orjson.dumps(value, default=default,
                            option=_ORJSON_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0))
    except orjson.JSONEncodeError:
        pass  # an integer wider than 64 bits, nesting past orjson's limit, or something not JSON
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=2 if indent else None,
                          separators=(",", ": ") if indent else (",", ":"), default=default)
        return text.encode()
    except RecursionError:
        raise JsonError("value nests too deeply to be written as JSON") from None
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (a lone surrogate) is a ValueError
        raise JsonError(f"value cannot be written as JSON: {exc}") from None


def dumps(value: Any, *, indent: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """``dumpb`` as text."""
    return dumpb(value, indent=indent, default=default).decode()


def deeper_than(value: Any, limit: int, written: bytes | str | None = None) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (a scalar is level 0).

    ``written``, the value's JSON when the caller has it, settles most values at C speed:
    JSON with no more than ``limit`` opening brackets cannot nest deeper than that, and
    walking every node of every event in the database writer costs every ack its time.
    """
    if not isinstance(value, (dict, list)):
        return False
    if written is not None:
        if isinstance(written, str):
            opening = written.count("{") + written.count("[")
        else:
            opening = written.count(b"{") + written.count(b"[")
        if opening <= limit:
            return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False

"""Cursor pagination for every list: stable under inserts, and as fast on page 10,000 as on page 1.

A cursor is the opaque, URL-safe form of the last item's sort key (an id, or a time and an id);
the next page is everything strictly after it. Offsets would skip or repeat items while events
arrive and make deep pages scan everything before them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from storyline.operations.errors import Invalid

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 500
MAX_ID = 2**63 - 1
"""The largest id of an event, a run, a job or a log (PostgreSQL's BIGINT): ids beyond it exist nowhere."""
MAX_ROW_ID = 2**31 - 1
"""The largest id of a story, an action or a user (PostgreSQL's INTEGER)."""


@dataclass(frozen=True)
class PageRequest:
    per_page: int = DEFAULT_PER_PAGE
    after: Any = None
    """The decoded cursor: the sort key of the last item already seen, or None for the first page."""


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    per_page: int
    extra: dict[str, Any] = field(default_factory=dict)


KeyShape = type | tuple[type, ...]
"""What a cursor decodes to: ``int`` for an id, ``(float, int)`` for a time and an id."""


def page_request(cursor: str | None, per_page: int | None, shape: KeyShape = int) -> PageRequest:
    """Check and decode the ``cursor`` and ``per_page`` query parameters (422 naming the bad one).

    The decoded key must have ``shape``: a cursor is input like any other, and a string where an id
    belongs would reach the SQL.
    """
    size = DEFAULT_PER_PAGE if per_page is None else per_page
    if not 1 <= size <= MAX_PER_PAGE:
        raise Invalid(f"per_page must be from 1 to {MAX_PER_PAGE}", {"parameter": "per_page"})
    if not cursor:
        return PageRequest(size, None)
    after = decode_cursor(cursor)
    if not _fits(after, shape):
        raise _BAD_CURSOR
    return PageRequest(size, after)


def _fits(value: Any, shape: KeyShape) -> bool:
    if isinstance(shape, tuple):
        return (isinstance(value, list) and len(value) == len(shape)
                and all(_fits(item, kind) for item, kind in zip(value, shape, strict=True)))
    if shape is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if shape is int:
        # An id the databases can hold: a bigger one would be a driver error (a 500), not a 422.
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID
    if shape is str:
        return isinstance(value, str) and "\x00" not in value  # PostgreSQL's text holds no NUL
    return isinstance(value, shape) and not isinstance(value, bool)


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


_BAD_CURSOR = Invalid("cursor is not one this server gave out; start again without it", {"parameter": "cursor"})


def decode_cursor(cursor: str) -> Any:
    try:
        if len(cursor) > 512:
            raise ValueError
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise _BAD_CURSOR from None


def paginate(rows: list[dict[str, Any]], request: PageRequest, key: str | tuple[str, ...] = "id") -> Page:
    """A page from ``rows`` fetched with ``LIMIT per_page + 1``: the extra row says there is a next page."""
    more = len(rows) > request.per_page
    items = rows[: request.per_page]
    next_cursor = None
    if more and items:
        last = items[-1]
        next_cursor = encode_cursor(last[key] if isinstance(key, str) else [last[k] for k in key])
    return Page(items, next_cursor, request.per_page)

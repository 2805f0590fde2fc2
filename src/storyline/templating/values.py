"""How template values become text or JSON, and the lazy ``CREDENTIAL``/``RESOURCE``/``META``/``STORY`` roots.

Tines prints objects and arrays as JSON (never as a language repr), booleans as
``true``/``false`` and nulls as nothing; every place that turns a value into text goes
through :func:`to_text` so Liquid output, ``<<pills>>`` and tags agree.

The roots are lazy mappings so a template only reaches the runtime for the names it
actually uses: a credential is decrypted only when a template references it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator, Mapping
from typing import Any

from liquid import Undefined

from .base import Scope, TemplateError


def is_missing(value: object) -> bool:
    """True for ``None`` and Liquid's ``Undefined`` (a missing path), the two "nothing" values."""
    return value is None or isinstance(value, Undefined)


def to_json_value(value: Any) -> Any:
    """Return a JSON-safe deep copy of ``value``.

    Native results (``as_object``, ``=formula``) become event data, which must be plain
    JSON and must not alias the incoming event's objects (events are write-once). Exact
    type checks first: this runs on whole response bodies on the hot path.
    """
    t = type(value)
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    if t is dict:
        return {k if type(k) is str else str(k): to_json_value(v) for k, v in value.items()}
    if t is list:
        return [to_json_value(v) for v in value]
    return _to_json_value_slow(value)


def _to_json_value_slow(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # plain str: subclasses (StoryRef, Markup, ...) stay internal
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, range):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, range)):
        return list(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Serialise like Tines: compact JSON, UTF-8 kept as is."""
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def to_text(value: Any) -> str:
    """Render any template value as text the way Tines prints it."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return to_json(value)
    if isinstance(value, range):
        return f"{value.start}..{value.stop - 1}"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


class _LazyRoot(Mapping[str, Any]):
    """A mapping that asks the scope for one name at a time and remembers the answer."""

    __slots__ = ("_cache", "_fetch")

    def __init__(self, fetch: Any) -> None:
        self._fetch = fetch
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str):
            raise KeyError(name)
        try:
            return self._cache[name]
        except KeyError:
            pass
        try:
            value = self._fetch(name)
        except KeyError:
            raise
        except LookupError as err:
            raise KeyError(name) from err
        self._cache[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        # ``{% if CREDENTIAL contains "virustotal" %}`` lets a story skip what is not configured.
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except (KeyError, TemplateError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        # Listing every secret would defeat laziness; only names already used are known.
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)


class _LazyMeta(Mapping[str, Any]):
    """``META``: calls ``scope.meta()`` once, on first use."""

    __slots__ = ("_meta", "_scope")

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._meta: Mapping[str, Any] | None = None

    def _load(self) -> Mapping[str, Any]:
        if self._meta is None:
            self._meta = self._scope.meta() or {}
        return self._meta

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


class StoryRef(str):
    """``STORY.team.slug``: a sub-story reference renders as its dotted slug.

    Tines resolves it to the sub-story's id; the engine resolves Send to Story targets by
    slug or name, so the slug text is what it needs.
    """

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return StoryRef(f"{self}.{key}")
        return str.__getitem__(self, key)


class _StoryRoot(Mapping[str, Any]):
    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str):
            raise KeyError(key)
        return StoryRef(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_STORY_ROOT = _StoryRoot()


def make_roots(scope: Scope) -> dict[str, Any]:
    """The reserved upper-case roots for one render; each reaches the scope only on use."""
    return {
        "CREDENTIAL": _LazyRoot(scope.credential),
        "RESOURCE": _LazyRoot(scope.resource),
        "META": _LazyMeta(scope),
        "STORY": _STORY_ROOT,
    }


class Names(Mapping[str, Any]):
    """The variables a template sees: reserved roots first, then the event's action keys."""

    __slots__ = ("_event", "_roots")

    def __init__(self, roots: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        self._roots = roots
        self._event = event

    def __getitem__(self, key: str) -> Any:
        try:
            return self._roots[key]
        except KeyError:
            return self._event[key]

    def __contains__(self, key: object) -> bool:
        return key in self._roots or key in self._event

    def __iter__(self) -> Iterator[str]:
        yield from self._roots
        yield from (k for k in self._event if k not in self._roots)

    def __len__(self) -> int:
        return len(self._roots) + len(self._event)

"""The names a template sees: the lazy ``CREDENTIAL``/``RESOURCE``/``META``/``STORY`` roots over the event.

The roots are lazy mappings so a template only reaches the runtime for the names it
actually uses: a credential is decrypted only when a template references it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .base import Scope, TemplateError
from .preprocess import WHOLE_EVENT_KEY


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

    def __getitem__(self, key: Any) -> Any:
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
            if key == WHOLE_EVENT_KEY and key not in self._event:
                return self._event[WHOLE_EVENT_KEY] if isinstance(self._event, Names) else self._event
            return self._event[key]

    def __contains__(self, key: object) -> bool:
        return key in self._roots or key in self._event or key == WHOLE_EVENT_KEY

    def __iter__(self) -> Iterator[str]:
        yield from self._roots
        yield from (k for k in self._event if k not in self._roots)

    def __len__(self) -> int:
        return len(self._roots) + len(self._event)

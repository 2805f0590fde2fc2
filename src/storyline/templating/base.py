"""The two names every other templating module shares: the error type and the Scope protocol.

They live here rather than in ``__init__`` so the submodules can import them without a
circular import; ``storyline.templating`` re-exports both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class TemplateError(ValueError):
    """A template that does not parse or render; the message says where."""


class Scope(Protocol):
    """What a template may reach beyond the event; supplied by the runtime."""

    story_run: str

    def credential(self, name: str) -> str: ...

    def resource(self, name: str) -> Any: ...

    def prompt_url(self, status: str) -> str: ...

    def meta(self) -> Mapping[str, Any]: ...

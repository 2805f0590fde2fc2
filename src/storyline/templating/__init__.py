"""Tines' template dialects: Liquid with leading-dot paths and custom tags, and formulas.

The engine calls ``render_value(value, event, scope)`` on an action's options; every
string inside is rendered against the incoming event (all upstream outputs by key)
plus the ``CREDENTIAL``, ``RESOURCE``, ``META`` and ``STORY`` roots.
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

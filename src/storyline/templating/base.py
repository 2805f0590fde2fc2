"""The names every templating module shares: the error type and the Scope protocol.

They live here rather than in ``__init__`` so the submodules can import them without a
circular import; ``storyline.templating`` re-exports them, with ``StaticScope``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class TemplateError(ValueError):
    """A template that does not parse or render; the message says where in the text.

    ``path`` says where in an option's value the failing string is (dict keys and list
    indexes, outermost first); ``render_value`` fills it in as the error leaves each level.
    """

    path: tuple[str | int, ...] = ()


DATA_ERRORS: tuple[type[Exception], ...] = (
    ArithmeticError, LookupError, TypeError, ValueError, AttributeError, NotImplementedError, RecursionError,
)
"""What a filter or function raises on a value it cannot handle (a decimal error in ``modulo``,
a missing key in ``compact``); the templating turns it into a :class:`TemplateError` naming the
filter or function, because the value comes from an event and the action must fail, not crash."""


def option_path(option: str, path: tuple[str | int, ...]) -> str:
    """``payload`` + ``("attachments", 0, "text")`` -> ``payload.attachments[0].text``."""
    out = option
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}" if out else str(step)
    return out


class Scope(Protocol):
    """What a template may reach beyond the event; supplied by the runtime."""

    story_run: str

    def credential(self, name: str) -> str: ...

    def resource(self, name: str) -> Any: ...

    def prompt_url(self, status: str) -> str: ...

    def meta(self) -> Mapping[str, Any]: ...


@dataclass
class StaticScope:
    """A Scope with fixed values: for tests, ``storyline tines check`` and offline renders.

    Unknown credentials and resources raise :class:`TemplateError`, as the engine's scope
    does, so a template naming a secret that is not configured fails loudly.
    """

    story_run: str = "00000000-0000-4000-8000-000000000000"
    credentials: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    meta_data: Mapping[str, Any] = field(default_factory=dict)
    prompt_base: str = "http://127.0.0.1:8000/prompt"

    def credential(self, name: str) -> str:
        try:
            return self.credentials[name]
        except KeyError:
            raise TemplateError(f"credential '{name}' is not defined") from None

    def resource(self, name: str) -> Any:
        try:
            return self.resources[name]
        except KeyError:
            raise TemplateError(f"resource '{name}' is not defined") from None

    def prompt_url(self, status: str) -> str:
        return f"{self.prompt_base}?run={self.story_run}&status={status}"

    def meta(self) -> Mapping[str, Any]:
        return self.meta_data

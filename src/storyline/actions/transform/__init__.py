"""Event Transform's modes, one module each: its ``validate(options)`` beside its ``run(ctx)``.

:mod:`storyline.actions.event_transformation` is the action; it picks the mode's module,
and mypy checks each against :class:`Mode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from storyline.actions.base import Result, RunContext


class Mode(Protocol):
    """A mode module: its options' problems and its run."""

    STATEFUL: bool
    """Whether its run reads and writes the action's state (the writer's transaction must hold it)."""

    def validate(self, options: Mapping[str, Any]) -> list[str]: ...

    def run(self, ctx: RunContext) -> Result: ...

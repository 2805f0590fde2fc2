"""What every action type shares: the run context, the result, option errors, and the contract.

An action type is a module in this package; :class:`ActionType` and its two kinds say
what such a module defines, and mypy checks every module listed in
``storyline.actions`` against them. ``run`` is a plain function for actions that do no
I/O and little work ("pure": event transformation) so the worker may run them inside
the transaction that records their input; it is ``async`` for actions that talk to the
outside world, or that may compute for long (a trigger's regex runs up to its time
limit, on a thread of its own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from storyline.templating import TemplateError, option_path

if TYPE_CHECKING:
    from storyline.actions.state import ActionState
    from storyline.egress.carried import Carried
    from storyline.egress.client import Egress
    from storyline.egress.smtp import Mailer
    from storyline.templating import Scope


class ActionError(Exception):
    """The action failed for a reason worth showing to the user (recorded, never a crash)."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class ActionSpec:
    """An action as the engine sees it: immutable, loaded from the store."""

    id: int
    story_id: int
    guid: str
    name: str
    key: str
    type: str
    options: Mapping[str, Any]
    story_name: str = ""
    disabled: bool = False
    schedule: Any = None
    # False when the story's export predates Tines' formulas: a leading ``=`` and ``<<``
    # are text, every option string is Liquid (``templating.values.formulas_in``).
    formulas: bool = True


def template_failure(action: ActionSpec, option: str, exc: TemplateError) -> ActionError:
    """An option failed to render: name the action, the option's path and where in the text."""
    return ActionError(f"action '{action.name}': option '{option_path(option, exc.path)}': {exc}")


@dataclass(frozen=True)
class SendToStory:
    """Start a run of another story at its entry action with ``body``, and wait for its exit."""

    story: str
    body: Any


@dataclass
class Result:
    """What one run of an action produced.

    ``events`` are the action's outputs; the worker files each under the action's key
    on top of the incoming event. ``defer_until`` asks to run the same job again at
    that epoch time (delay, implode timeout) with ``state`` handed back in.
    """

    events: list[Any] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    defer_until: float | None = None
    state: Any = None
    # (bucket, value) pairs an async action keeps in its ActionState; written in the
    # transaction that files this result (see ``RunContext.recall``).
    remember: list[tuple[str, Any]] = field(default_factory=list)
    # Buckets emptied just before ``remember`` is written: state that replaces itself
    # (a mailbox cursor) instead of growing.
    forget: list[str] = field(default_factory=list)
    # Send to Story: the engine starts the sub-story run in the transaction that files
    # this result; the job waits, and the sub-story's exit events are emitted as this action's.
    send_to_story: SendToStory | None = None


class Secrets(Protocol):
    """The credentials a run's templates rendered (``storyline.credentials.vault.CredentialUse``)."""

    def carried(self) -> Sequence[Carried]:
        """The rendered credential values, with where each may go (egress checks every hop)."""
        ...

    async def renew(self) -> bool:
        """Fetch new tokens for the rendered credentials (after a 401); False if none has one."""
        ...


@dataclass
class RunContext:
    """Everything an action may use. It never reaches for globals, so tests build one by hand."""

    action: ActionSpec
    event: Mapping[str, Any]
    story_run: str
    scope: Scope
    now: float
    attempt: int = 1
    job_state: Any = None
    egress: Egress | None = None
    mailer: Mailer | None = None
    state: ActionState | None = None
    render: Callable[[Any], Any] = field(default=lambda value: value)
    render_event: Callable[[Any, Mapping[str, Any]], Any] = field(default=lambda value, event: value)
    # For async actions, which run outside a transaction: read a bucket of this
    # action's ActionState; write with ``Result.remember``.
    recall: Callable[[str], Awaitable[list[Any]]] | None = None
    secrets: Secrets | None = None

    def render_with(self, value: Any, extra: Mapping[str, Any], option: str = "payload") -> Any:
        """Render ``option``'s ``value`` against the incoming event plus extra top-level names, e.g. ``LOOP``.

        ``render`` is bound to the incoming event, but a message-only loop renders its
        payload once per element with a different ``LOOP``.
        """
        try:
            return self.render_event(value, {**self.event, **extra})
        except TemplateError as exc:
            raise template_failure(self.action, option, exc) from exc

    def option(self, name: str, default: Any = None) -> Any:
        """The option rendered against the incoming event (Liquid and formulas)."""
        if name not in self.action.options:
            return default
        try:
            return self.render(self.action.options[name])
        except TemplateError as exc:
            raise template_failure(self.action, name, exc) from exc


def render_option(ctx: RunContext, value: Any, where: str) -> Any:
    """Render one piece of an option; a template failure becomes an ActionError naming it."""
    try:
        return ctx.render(value)
    except TemplateError as exc:
        raise template_failure(ctx.action, where, exc) from exc


class ActionType(Protocol):
    """An action module: its Tines class name, a line for humans, and its options' problems.

    The Webhook is only this: the intake records its requests, it never runs as a job.
    """

    TYPE: str
    DESCRIPTION: str

    def validate(self, options: Mapping[str, Any]) -> list[str]:
        """Problems with the options, each a sentence naming the option, before anything runs."""
        ...


class PureAction(ActionType, Protocol):
    """An action that does no I/O: it runs inside the transaction that records its input."""

    @property
    def PURE(self) -> Literal[True]: ...

    def run(self, ctx: RunContext) -> Result: ...

    def needs_state(self, options: Mapping[str, Any]) -> bool:
        """Whether a run must read and write the action's state in the writer's transaction.

        Such a run stays there even when its regexes outrun the writer's budget.
        """
        ...


class AsyncAction(ActionType, Protocol):
    """An action that talks to the outside world: it runs outside any transaction."""

    @property
    def PURE(self) -> Literal[False]: ...

    async def run(self, ctx: RunContext) -> Result: ...


RunnableAction = PureAction | AsyncAction
"""An action the worker runs as a job; ``PURE`` tells the two kinds apart."""

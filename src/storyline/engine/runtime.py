"""What actions get from the outside world: rendering, scope, egress, the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from storyline.actions.base import ActionSpec, RunContext, template_failure
from storyline.actions.state import ActionState
from storyline.config import Settings
from storyline.credentials import signing
from storyline.credentials.vault import Vault
from storyline.egress.client import Egress
from storyline.egress.smtp import Mailer
from storyline.templating import TemplateError, render_value
from storyline.templating.render import defines_variables, share_assigns


@dataclass
class RunScope:
    """The template roots beyond the event, for one action run."""

    story_run: str
    action: ActionSpec
    credentials: Mapping[str, str]
    resources: Mapping[str, Any]
    public_url: str
    event_id: int | None = None
    prompt_key: bytes | None = None

    def credential(self, name: str) -> str:
        if name not in self.credentials:
            raise TemplateError(f"credential '{name}' is not defined (storyline credential set {name} ...)")
        return self.credentials[name]

    def resource(self, name: str) -> Any:
        if name not in self.resources:
            raise TemplateError(f"resource '{name}' is not defined (storyline resource set {name} VALUE)")
        return self.resources[name]

    def prompt_url(self, status: str) -> str:
        if self.event_id is None or self.prompt_key is None:
            raise TemplateError("a prompt needs an incoming event (it cannot be rendered here)")
        return signing.prompt_url(
            self.public_url, self.prompt_key, self.event_id, self.action.id, self.story_run, str(status)
        )

    def meta(self) -> Mapping[str, Any]:
        return {
            "story": {"name": self.action.story_name, "id": self.action.story_id},
            "action": {"name": self.action.name, "key": self.action.key, "id": self.action.id},
            "story_run": {"id": self.story_run},
        }


@dataclass
class Runtime:
    settings: Settings
    egress: Egress | None = None
    mailer: Mailer | None = None
    vault: Vault = field(default_factory=Vault)
    prompt_key: bytes | None = None
    # Pure actions whose regex once ran out of the writer's budget (queue.INLINE_REGEX_SECONDS):
    # their jobs run outside the writer from then on, so an attacker's flood of events meeting
    # a runaway pattern costs the writer one budget per action, not one per event.
    outside_writer: set[int] = field(default_factory=set)
    _defines: dict[int, tuple[Mapping[str, Any], bool]] = field(default_factory=dict, repr=False)

    def _defines_variables(self, action: ActionSpec) -> bool:
        """Whether the action's options assign Liquid variables: looked up once per version of its options."""
        cached = self._defines.get(action.id)
        if cached is None or cached[0] is not action.options:
            cached = self._defines[action.id] = (action.options, defines_variables(action.options))
        return cached[1]

    def redact(self, value: Any) -> Any:
        """Hide secret values in what is about to be stored (events, logs, errors)."""
        return self.vault.redact(value)

    async def prepare(self, action: ActionSpec) -> None:
        """Fetch what the action's templates will need that takes I/O (OAuth tokens), before it runs."""
        await self.vault.prepare(action, self.egress)

    def ready(self, action: ActionSpec) -> bool:
        """Whether the action can run right now without I/O (its credentials are at hand)."""
        return self.vault.ready(action)

    def context(
        self,
        action: ActionSpec,
        event: Mapping[str, Any],
        story_run: str,
        now: float,
        *,
        attempt: int = 1,
        job_state: Any = None,
        state: ActionState | None = None,
        event_id: int | None = None,
        recall: Callable[[str], Awaitable[list[Any]]] | None = None,
    ) -> RunContext:
        secrets = self.vault.use(self.egress)
        scope = RunScope(story_run, action, secrets, self.vault.resources, self.settings.public_url,
                         event_id, self.prompt_key)

        # One Liquid state for the run's options: what one option assigns or captures, the
        # next reads (render.share_assigns runs the options that set variables first).
        assigns: dict[str, Any] = {}
        local = action.options.get("local")
        if isinstance(local, dict) and local:
            render_event = _with_local(action, local, scope, assigns)
        else:
            shared: list[bool] = []

            def render_event(value: Any, event: Mapping[str, Any]) -> Any:
                if not shared:
                    shared.append(True)
                    if self._defines_variables(action):
                        share_assigns(action.options, event, scope, assigns, formulas=action.formulas)
                return render_value(value, event, scope, assigns, formulas=action.formulas)

        return RunContext(
            action=action,
            event=event,
            story_run=story_run,
            scope=scope,
            now=now,
            attempt=attempt,
            job_state=job_state,
            egress=self.egress,
            mailer=self.mailer,
            state=state,
            render=lambda value: render_event(value, event),
            render_event=render_event,
            recall=recall,
            secrets=secrets,
        )


def _with_local(
    action: ActionSpec, local: dict[str, Any], scope: RunScope, assigns: dict[str, Any]
) -> Callable[[Any, Mapping[str, Any]], Any]:
    """Tines' "local values": the ``local`` option, rendered once per run, is ``LOCAL`` in the others.

    Each key may use the keys before it. It is rendered on first use, against the event
    of that render (a loop's renders share the incoming event's LOCAL).
    """
    rendered: dict[str, Any] | None = None

    def render_event(value: Any, event: Mapping[str, Any]) -> Any:
        nonlocal rendered
        if rendered is None:
            values: dict[str, Any] = {}
            for key, item in local.items():
                try:
                    values[key] = render_value(item, {**event, "LOCAL": values}, scope, assigns,
                                               formulas=action.formulas)
                except TemplateError as exc:
                    exc.path = (key, *exc.path)
                    raise template_failure(action, "local", exc) from exc
            rendered = values
            share_assigns({k: v for k, v in action.options.items() if k != "local"},
                          {**event, "LOCAL": rendered}, scope, assigns, formulas=action.formulas)
        return render_value(value, {**event, "LOCAL": rendered}, scope, assigns, formulas=action.formulas)

    return render_event

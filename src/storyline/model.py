"""A Tines story as plain data: what the importer produces, the store saves and the exporter writes.

It imports nothing of storyline, so every layer, the store included, can speak of stories.

The model keeps only what storyline needs as typed fields and carries every other key
verbatim in ``extra`` (story level and action level), so an exported story has
everything the imported one had: diagram layout, notes, forms, embedded sub-stories,
and keys of schema versions newer than this code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WEBHOOK_TYPE = "Agents::WebhookAgent"
SEND_TO_STORY_TYPE = "Agents::SendToStoryAgent"

#: Tines' default event retention ("Keep events and logs": 7 days), in seconds.
DEFAULT_KEEP_EVENTS_FOR = 7 * 24 * 3600


def action_key(name: str) -> str:
    """Tines reaches an action's output by this key: snake_case of its name (tines-format.md §4.3)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass
class ActionDef:
    """One Tines agent (action).

    ``options`` are kept exactly as imported (templates unrendered). ``schedule`` is the
    agent's raw schedule (Huginn strings like ``"every_1h"`` in old exports, a list of
    ``{cron, timezone}`` in new ones). ``keep_events_for`` is the legacy per-agent
    retention in seconds (``None`` when the agent has none; ``0`` means "the story's
    default"). ``extra`` holds every other agent key verbatim (description, monitoring,
    width, ...).
    """

    type: str
    name: str
    guid: str
    options: dict[str, Any] = field(default_factory=dict)
    schedule: Any = None
    disabled: bool = False
    key: str = ""
    keep_events_for: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The export carries a ``schedule`` key (always, when ``schedule`` is not None).
    #: Tines writes ``"schedule": null`` on some agents and omits the key on others;
    #: keeping the difference makes an export reproduce the imported agent exactly.
    schedule_present: bool = False

    def __post_init__(self) -> None:
        if not self.key:
            self.key = action_key(self.name)
        if self.schedule is not None:
            self.schedule_present = True

    @property
    def is_webhook(self) -> bool:
        return self.type == WEBHOOK_TYPE

    @property
    def webhook_path(self) -> str | None:
        """The ``<path>`` of ``/webhook/<path>/<secret>``, for webhook actions only.

        Newer exports carry ``options.path``; old ones have none, and Tines addressed
        those webhooks by the action's guid, which is stable across exports.
        """
        if not self.is_webhook:
            return None
        path = self.options.get("path")
        if isinstance(path, str) and path.strip():
            return path.strip()
        return self.guid

    @property
    def webhook_secret(self) -> str | None:
        """The ``<secret>`` of ``/webhook/<path>/<secret>`` (``options.secret``), webhooks only."""
        if not self.is_webhook:
            return None
        secret = self.options.get("secret")
        if secret is None or secret == "":
            return None
        return str(secret)


@dataclass
class StoryDef:
    """One Tines story: its actions in export order and its links as index pairs.

    ``links`` are ``(source, receiver)`` indexes into ``actions``, as in the export,
    because an action's position is its identity inside one export. ``keep_events_for``
    is the story-level retention in seconds. ``exit_agent_guids`` also receives the
    legacy singular ``exit_agent_guid``. ``extra`` holds every other top-level key
    verbatim (``diagram_layout``, ``diagram_notes``, ``form``, ``control_links``,
    ``send_to_stories``, ``slug``, ...). ``schema_version`` is the one imported
    (``None`` for a story that had none).
    """

    name: str
    guid: str
    description: str | None = None
    schema_version: int | None = None
    keep_events_for: int = DEFAULT_KEEP_EVENTS_FOR
    send_to_story_enabled: bool = False
    entry_agent_guid: str | None = None
    exit_agent_guids: list[str] = field(default_factory=list)
    actions: list[ActionDef] = field(default_factory=list)
    links: list[tuple[int, int]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def action(self, name_key_or_guid: str) -> ActionDef:
        """The action with this guid, name or key (first in export order); KeyError otherwise."""
        for candidate in self.actions:
            if name_key_or_guid in (candidate.guid, candidate.name, candidate.key):
                return candidate
        raise KeyError(f"story {self.name!r} has no action {name_key_or_guid!r}")

    def receivers(self, index: int) -> list[int]:
        """Indexes of the actions that receive the events of action ``index``, in link order."""
        return [receiver for source, receiver in self.links if source == index]

    def sources(self, index: int) -> list[int]:
        """Indexes of the actions whose events action ``index`` receives, in link order."""
        return [source for source, receiver in self.links if receiver == index]

    def retention_for(self, action: ActionDef) -> int:
        """Seconds to keep this action's events: its own legacy value, else the story's.

        Legacy exports put ``keep_events_for`` on each agent, ``0`` for "the story
        default" (585 of 880 agents in tines/stories); newer ones only at story level.
        """
        if action.keep_events_for:
            return action.keep_events_for
        return self.keep_events_for


# How one story names another (Send to Story's ``story`` option): the engine resolves
# the name when a run reaches the action, the store when it refuses a loop of sub-stories.
_STORY_TAG = re.compile(r"^\{%-?\s*story\s+(.+?)\s*-?%\}$")
_STORY_ROOT = re.compile(r"^(?:\{\{-?\s*\.?STORY\.([\w.]+)\s*-?\}\}|<<\s*STORY\.([\w.]+)\s*>>|=\s*STORY\.([\w.]+))$")
_TEMPLATE = re.compile(r"\{\{|\{%|<<")


def static_target(options: Mapping[str, Any]) -> str | None:
    """The story the action names without needing an event, or None when it is computed."""
    story = options.get("story")
    if isinstance(story, int) and not isinstance(story, bool):
        return str(story)
    if not isinstance(story, str) or not story.strip():
        return None
    text = story.strip()
    tag = _STORY_TAG.match(text)
    if tag:
        return tag.group(1)
    root = _STORY_ROOT.match(text)
    if root:
        return next(group for group in root.groups() if group)
    if _TEMPLATE.search(text) or text.startswith("="):
        return None
    return text


def find_story(ref: str, stories: Iterable[tuple[int, str, str, str]]) -> list[int]:
    """Ids of the stories ``(id, guid, name, slug)`` that ``ref`` names, best kind of match first.

    Tines resolves a story by id, then name; ``STORY.team.slug`` names a slug under a
    team, and storyline has no teams, so only the last part counts.
    """
    wanted = ref.strip()
    candidates = list(stories)
    slug = wanted.rsplit(".", 1)[-1]
    tests = (
        lambda s: wanted.isdigit() and s[0] == int(wanted),
        lambda s: s[1] == wanted,
        lambda s: s[2] == wanted,
        lambda s: s[2].casefold() == wanted.casefold(),
        lambda s: slug in (s[3], action_key(s[2])),
    )
    for test in tests:
        found = [s[0] for s in candidates if test(s)]
        if found:
            return found
    return []

"""The stories the engine runs, held in memory and refreshed when the store changes.

Workers and webhooks look actions and links up thousands of times a second; a
story import in another process bumps ``stories.updated_at`` and is picked up
within ``ttl`` seconds.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.actions.base import ActionSpec
from storyline.model import action_key
from storyline.store import tables as t
from storyline.store.stories import KEEP_EVENTS_FOR
from storyline.templating.values import formulas_in


@dataclass(frozen=True)
class StoryInfo:
    id: int
    name: str
    guid: str
    keep_events_for: int
    # Send to Story: whether other stories may call this one, and how they find it.
    send_to_story_enabled: bool = False
    slug: str = ""
    # The Tines export's schema_version (None: written for storyline); defaults follow it.
    schema_version: int | None = None
    # A disabled story runs nothing: its webhooks refuse, its schedules do not tick, its jobs are held.
    disabled: bool = False


@dataclass
class Catalog:
    actions: dict[int, ActionSpec] = field(default_factory=dict)
    receivers: dict[int, list[int]] = field(default_factory=dict)
    webhooks: dict[str, ActionSpec] = field(default_factory=dict)
    stories: dict[int, StoryInfo] = field(default_factory=dict)
    # Sub-stories: the entry action of each story that has one, and every exit action.
    entries: dict[int, int] = field(default_factory=dict)
    exits: frozenset[int] = frozenset()
    # Seconds each action that has its own keep_events_for (schema 1 exports) keeps its events,
    # and the longest of them in each story that has any.
    keeps: dict[int, int] = field(default_factory=dict)
    longest_keeps: dict[int, int] = field(default_factory=dict)
    version: tuple[object, ...] = ()

    def receivers_of(self, action_id: int) -> list[ActionSpec]:
        return [self.actions[r] for r in self.receivers.get(action_id, ())]

    def story(self, story_id: int) -> StoryInfo:
        return self.stories[story_id]

    def kept_for(self, action: ActionSpec) -> int:
        """Seconds the action's events are kept: its own ``keep_events_for``, else its story's."""
        return self.keeps.get(action.id) or self.story(action.story_id).keep_events_for

    def run_kept_for(self, story_id: int) -> int:
        """Seconds a run of the story is kept: as long as the longest any of its actions keeps events."""
        return max(self.story(story_id).keep_events_for, self.longest_keeps.get(story_id, 0))


def _version(conn: Connection) -> tuple[object, ...]:
    row = conn.execute(
        sa.select(sa.func.count(t.stories.c.id), sa.func.max(t.stories.c.updated_at))
    ).one()
    return tuple(row)


def load_catalog(conn: Connection) -> Catalog:
    catalog = Catalog(version=_version(conn))
    entry_guids: dict[int, str] = {}
    exit_guids: dict[int, set[str]] = {}
    for row in conn.execute(sa.select(t.stories)).mappings():
        slug = (row["extra"] or {}).get("slug") or action_key(row["name"])
        catalog.stories[row["id"]] = StoryInfo(
            row["id"], row["name"], row["guid"], row["keep_events_for"],
            bool(row["send_to_story_enabled"]), str(slug), row["schema_version"], bool(row["disabled"]),
        )
        if row["entry_agent_guid"]:
            entry_guids[row["id"]] = row["entry_agent_guid"]
        exit_guids[row["id"]] = set(row["exit_agent_guids"] or ())
    exits: set[int] = set()
    for row in conn.execute(sa.select(t.actions)).mappings():
        spec = ActionSpec(
            id=row["id"],
            story_id=row["story_id"],
            guid=row["guid"],
            name=row["name"],
            key=row["key"],
            type=row["type"],
            options=row["options"] or {},
            story_name=catalog.stories[row["story_id"]].name,
            disabled=bool(row["disabled"]),
            schedule=row["schedule"],
            formulas=formulas_in(catalog.stories[row["story_id"]].schema_version),
        )
        catalog.actions[spec.id] = spec
        keep = (row["extra"] or {}).get(KEEP_EVENTS_FOR)
        if isinstance(keep, int) and keep > 0:  # 0: the story's
            catalog.keeps[spec.id] = keep
            catalog.longest_keeps[spec.story_id] = max(keep, catalog.longest_keeps.get(spec.story_id, 0))
        if entry_guids.get(spec.story_id) == spec.guid:
            catalog.entries[spec.story_id] = spec.id
        if spec.guid in exit_guids[spec.story_id]:
            exits.add(spec.id)
        if row["webhook_path"]:
            catalog.webhooks[row["webhook_path"]] = spec
    catalog.exits = frozenset(exits)
    for link in conn.execute(sa.select(t.links.c.source_id, t.links.c.receiver_id).order_by(t.links.c.id)):
        catalog.receivers.setdefault(link.source_id, []).append(link.receiver_id)
    return catalog


Reader = Callable[[Callable[[Connection], "Catalog"]], Awaitable["Catalog"]]
"""Runs a read on a database connection (``Database.read``)."""


class CatalogCache:
    """Hands out the current catalog, re-reading the store at most every ``ttl`` seconds."""

    def __init__(self, reader: Reader, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self.current = Catalog()
        self._reader = reader
        self._checked = 0.0

    async def get(self, *, force: bool = False) -> Catalog:
        """The catalog, read again first when due, or at once when ``force``d (an action not seen yet may be new)."""
        if force or self.due():
            return await self._reader(functools.partial(self.refresh, force=force))
        return self.current

    def due(self) -> bool:
        return time.monotonic() - self._checked >= self.ttl

    def refresh(self, conn: Connection, *, force: bool = False) -> Catalog:
        self._checked = time.monotonic()
        if force or _version(conn) != self.current.version:
            self.current = load_catalog(conn)
        return self.current

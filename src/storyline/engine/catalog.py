"""The stories the engine runs, held in memory and refreshed when the store changes.

Workers and webhooks look actions and links up thousands of times a second; a
story import in another process bumps ``stories.updated_at`` and is picked up
within ``ttl`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.actions.base import ActionSpec
from storyline.store import tables as t


@dataclass(frozen=True)
class StoryInfo:
    id: int
    name: str
    guid: str
    keep_events_for: int


@dataclass
class Catalog:
    actions: dict[int, ActionSpec] = field(default_factory=dict)
    receivers: dict[int, list[int]] = field(default_factory=dict)
    webhooks: dict[str, ActionSpec] = field(default_factory=dict)
    stories: dict[int, StoryInfo] = field(default_factory=dict)
    version: tuple[object, ...] = ()

    def receivers_of(self, action_id: int) -> list[ActionSpec]:
        return [self.actions[r] for r in self.receivers.get(action_id, ())]

    def story(self, story_id: int) -> StoryInfo:
        return self.stories[story_id]


def _version(conn: Connection) -> tuple[object, ...]:
    row = conn.execute(
        sa.select(sa.func.count(t.stories.c.id), sa.func.max(t.stories.c.updated_at))
    ).one()
    return tuple(row)


def load_catalog(conn: Connection) -> Catalog:
    catalog = Catalog(version=_version(conn))
    for row in conn.execute(sa.select(t.stories)).mappings():
        catalog.stories[row["id"]] = StoryInfo(row["id"], row["name"], row["guid"], row["keep_events_for"])
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
        )
        catalog.actions[spec.id] = spec
        if row["webhook_path"]:
            catalog.webhooks[row["webhook_path"]] = spec
    for row in conn.execute(sa.select(t.links.c.source_id, t.links.c.receiver_id).order_by(t.links.c.id)):
        catalog.receivers.setdefault(row.source_id, []).append(row.receiver_id)
    return catalog


class CatalogCache:
    """Hands out the current catalog, re-reading the store at most every ``ttl`` seconds."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self.current = Catalog()
        self._checked = 0.0

    def due(self) -> bool:
        return time.monotonic() - self._checked >= self.ttl

    def refresh(self, conn: Connection, *, force: bool = False) -> Catalog:
        self._checked = time.monotonic()
        if force or _version(conn) != self.current.version:
            self.current = load_catalog(conn)
        return self.current

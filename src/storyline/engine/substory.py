"""Send to Story in the engine: which story a call reaches, loops, and the call chain.

A Send to Story job starts a run of the sub-story whose ``story_runs.parent_job_id``
names the job, and stays queued until the sub-story's retention ends. The queue
(``storyline.engine.queue``) owns those state changes; this module answers the
questions they need, in the caller's transaction:

- which story a ``story`` reference names, and whether it may be called;
- whether the call would loop: a story may not send to a story already running
  above it in the chain (A -> B -> A), except that a story run that is not itself a
  sub-story run may send to its own story (Tines' "Send to This Story" test action);
- which job waits for a sub-story run, and whether that run still has work;
- which sub-stories a story taken out of its database may call (``storyline run FILE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline.actions.base import ActionError, ActionSpec
from storyline.engine.catalog import Catalog, StoryInfo, load_catalog
from storyline.model import SEND_TO_STORY_TYPE, StoryDef, find_story, static_target
from storyline.store import events
from storyline.store import tables as t
from storyline.store.stories import load_story
from storyline.tines.importer import StoryFormatError, parse_story

#: Sub-story runs nested deeper than this are refused (a loop the story rule cannot see).
MAX_DEPTH = 10


@dataclass(frozen=True)
class Parent:
    """The Send to Story job a sub-story run answers to."""

    job_id: int
    action_id: int
    event_id: int | None
    story_run: str
    waiting: bool


def target(
    conn: Connection, catalog: Catalog, caller: ActionSpec, story_run: str, ref: str
) -> tuple[StoryInfo, ActionSpec]:
    """The sub-story and its entry action for a call from ``caller`` in ``story_run``."""
    found = find_story(ref, ((s.id, s.guid, s.name, s.slug) for s in catalog.stories.values()))
    if not found:
        raise ActionError(f"option 'story': no story {ref!r} is imported (storyline story import FILE)")
    if len(found) > 1:
        names = ", ".join(f"{catalog.story(i).name!r} (guid {catalog.story(i).guid})" for i in found)
        raise ActionError(f"option 'story': {ref!r} names {len(found)} stories: {names}; use the guid")
    story = catalog.story(found[0])
    entry_id = catalog.entries.get(story.id)
    if not story.send_to_story_enabled or entry_id is None:
        raise ActionError(
            f"story {story.name!r} is not a sub-story: its export needs send_to_story_enabled and "
            "an entry_agent_guid naming its entry webhook"
        )
    chain = _chain(conn, story_run)
    if story.id in chain and chain != [story.id]:
        path = " -> ".join(repr(catalog.story(i).name) for i in [*chain, story.id])
        raise ActionError(
            f"Send to Story loop refused: {path} (a story cannot send to a story running above it)"
        )
    if len(chain) > MAX_DEPTH:
        raise ActionError(f"Send to Story refused: sub-stories nest deeper than {MAX_DEPTH} ({ref!r})")
    return story, catalog.actions[entry_id]


def entry_body(body: Mapping[str, Any], caller: ActionSpec, event_id: int | None) -> dict[str, Any]:
    """What the entry webhook emits; Tines adds the caller's action and event ids."""
    return {**body, "#action_id": caller.id, "#event_id": event_id}


def _chain(conn: Connection, story_run: str) -> list[int]:
    """Story ids of the runs from the root down to ``story_run``."""
    r, j = t.story_runs.c, t.jobs.c
    stories: list[int] = []
    run: str | None = story_run
    while run is not None and len(stories) <= MAX_DEPTH:
        row = conn.execute(sa.select(r.story_id, r.parent_job_id).where(r.guid == run)).first()
        if row is None:
            break
        stories.append(row.story_id)
        run = None
        if row.parent_job_id is not None:
            run = conn.execute(sa.select(j.story_run).where(j.id == row.parent_job_id)).scalar()
    return stories[::-1]


def parent(conn: Connection, story_run: str, *, lock: bool = False) -> Parent | None:
    """The job waiting on (or once called) this sub-story run; None for an ordinary run.

    ``lock`` orders concurrent settlements of one sub-story run on PostgreSQL: the
    last of two jobs finishing at once sees the other's commit.
    """
    r, j = t.story_runs.c, t.jobs.c
    job_id = conn.execute(sa.select(r.parent_job_id).where(r.guid == story_run)).scalar()
    if job_id is None:
        return None
    query = sa.select(j.id, j.action_id, j.event_id, j.story_run, j.status, j.state).where(j.id == job_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    waiting = row.status == "queued" and (row.state or {}).get("sub_run") == story_run
    return Parent(row.id, row.action_id, row.event_id, row.story_run, waiting)


def incoming(conn: Connection, event_id: int | None) -> Mapping[str, Any] | None:
    """The event the Send to Story action received; None when retention has removed it."""
    if event_id is None:
        return {}  # a scheduled Send to Story has no incoming event
    return events.view(conn, event_id)


def busy(conn: Connection, story_run: str) -> bool:
    j = t.jobs.c
    query = sa.select(j.id).where(j.story_run == story_run, j.status.in_(t.PENDING_JOBS)).limit(1)
    return conn.execute(query).first() is not None


def failure(conn: Connection, story_run: str) -> str | None:
    """Why the sub-story run failed (its first failed action), or None."""
    j, a = t.jobs.c, t.actions.c
    row = conn.execute(
        sa.select(a.name, j.error)
        .join(t.actions, a.id == j.action_id)
        .where(j.story_run == story_run, j.status == "failed")
        .order_by(j.id)
        .limit(1)
    ).first()
    return None if row is None else f"action {row.name!r} failed: {row.error}"


def callees(story: StoryDef, imported: Connection | None) -> list[StoryDef]:
    """The sub-stories ``story`` may call, for running it away from the stories it lives with.

    ``storyline run FILE`` runs a file's story in a throwaway database: with it go the
    sub-stories embedded in its export (``send_to_stories``, as Tines exports them), then
    those ``imported`` (the configured database) that it or they name without an event.
    A sub-story held by neither, or named only at run time, stays out: the run's Send to
    Story then fails saying which story is not imported.
    """
    held = [story]
    embedded = story.extra.get("send_to_stories")
    for index, data in enumerate(embedded if isinstance(embedded, list) else []):
        try:
            sub, _warnings = parse_story(data, source=f"{story.name}: send_to_stories[{index}]")
        except StoryFormatError:
            continue  # `storyline tines check FILE` says why
        if _fits(sub, held):
            held.append(sub)
    if imported is None:
        return held[1:]
    catalog = load_catalog(imported)
    stored = [(s.id, s.guid, s.name, s.slug) for s in catalog.stories.values()]
    wanted = [ref for s in held for ref in _static_targets(s)]
    while wanted:
        ref = wanted.pop()
        if find_story(ref, ((-n, s.guid, s.name, str(s.extra.get("slug") or "")) for n, s in enumerate(held, 1))):
            continue
        found = find_story(ref, stored)
        if len(found) == 1:
            sub = load_story(imported, catalog.story(found[0]).guid)
            if _fits(sub, held):
                held.append(sub)
                wanted.extend(_static_targets(sub))
    return held[1:]


def _fits(story: StoryDef, held: list[StoryDef]) -> bool:
    """Whether ``story`` can be stored beside ``held``: another story, none of whose webhook paths
    they use (an export may embed a copy of itself under another name, for "Send to This Story")."""
    paths = {a.webhook_path for s in held for a in s.actions if a.is_webhook}
    return all(story.guid != s.guid for s in held) and not any(
        a.webhook_path in paths for a in story.actions if a.is_webhook)


def _static_targets(story: StoryDef) -> list[str]:
    refs = (static_target(a.options) for a in story.actions if a.type == SEND_TO_STORY_TYPE)
    return [ref for ref in refs if ref is not None]

"""Stories as the console draws them: the list with its last day's numbers, and the storyboard of one story.

A storyboard is the story's actions and links, the export's diagram (``diagram_layout``,
``diagram_notes``, kept verbatim by the importer in ``StoryDef.extra``) and what each action
did in the last day. Every number is a range over an index (``store/activity.py``), so the
list stays fast with millions of events, and a live graph can ask again every second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts.roles import Permission, Principal
from storyline.operations.access import require
from storyline.operations.errors import NotFound
from storyline.operations.paging import MAX_ROW_ID
from storyline.store import activity
from storyline.store import stories as sql
from storyline.store.queries import iso, log_rows

DAY = 24 * 3600.0
LISTED = 500
"""Stories on one list (the list is by name; a search narrows it)."""
ACTIONS_DRAWN = 5000
"""Actions read for one storyboard (far above any real story's)."""


@dataclass(frozen=True)
class StoryLine:
    """One row of the stories list."""

    id: int
    name: str
    disabled: bool
    actions: int
    last_run_at: str | None
    runs: int
    failures: int


@dataclass(frozen=True)
class Listing:
    stories: list[StoryLine]
    more: bool
    """More stories match than are listed: a search narrows them."""


def overview(conn: Connection, principal: Principal | None, search: str, now: float) -> Listing:
    """Stories by name (those whose name holds ``search``), each with its last run and its runs and failed runs
    in the last day."""
    require(principal, Permission.STORIES_READ)
    rows = activity.story_rows(conn, search, LISTED + 1)
    shown = rows[:LISTED]
    since = now - DAY
    numbers = activity.story_runs(conn, [row["id"] for row in shown], activity.first_run_since(conn, since), since)
    return Listing([StoryLine(row["id"], row["name"], bool(row["disabled"]), row["actions"],
                              iso(numbers[row["id"]]["last_run_at"]), numbers[row["id"]]["runs"],
                              numbers[row["id"]]["failures"]) for row in shown], len(rows) > LISTED)


@dataclass
class BoardAction:
    id: int
    guid: str
    name: str
    type: str
    disabled: bool
    events: int = 0
    """Events written in the last day."""
    failed: bool = False
    """Its last run failed."""


@dataclass
class Board:
    """One story as its storyboard draws it."""

    id: int
    name: str
    description: str
    disabled: bool
    actions: list[BoardAction]
    links: list[tuple[int, int]]
    """(source, receiver) as indexes into ``actions``."""
    layout: dict[str, tuple[float, float]]
    """The export's ``diagram_layout``: an action's guid to its position; empty when the export had none."""
    notes: list[tuple[str, tuple[float, float] | None]] = field(default_factory=list)
    """The export's ``diagram_notes``: text and position."""


def board(conn: Connection, principal: Principal | None, story_id: int, now: float) -> Board:
    require(principal, Permission.STORIES_READ)
    story = sql.load_story_by_id(conn, story_id) if 0 < story_id <= MAX_ROW_ID else None
    if story is None:
        raise NotFound(f"no story with id {story_id}; /stories lists them")
    ids = {row["guid"]: row["id"] for row in sql.action_page(conn, after_id=None, limit=ACTIONS_DRAWN,
                                                             story_id=story_id)}
    actions = [BoardAction(ids[a.guid], a.guid, a.name, a.type, a.disabled) for a in story.actions if a.guid in ids]
    drawn = {a.guid for a in actions}
    kept = [index for index, a in enumerate(story.actions) if a.guid in drawn]
    where = {old: new for new, old in enumerate(kept)}
    links = [(where[s], where[r]) for s, r in story.links if s in where and r in where]
    numbers = pulse(conn, principal, story_id, now, [a.id for a in actions])
    for action in actions:
        action.events, action.failed = numbers.get(action.id, (0, False))
    disabled = bool(sql.story_page(conn, after_id=None, limit=1, story_id=story_id)[0]["disabled"])
    return Board(story_id, story.name, story.description or "", disabled, actions, links,
                 diagram_layout(story.extra.get("diagram_layout")), diagram_notes(story.extra.get("diagram_notes")))


def pulse(conn: Connection, principal: Principal | None, story_id: int, now: float,
          action_ids: list[int] | None = None) -> dict[int, tuple[int, bool]]:
    """Per action of the story: its events in the last day, and whether its last run failed."""
    require(principal, Permission.STORIES_READ)
    if action_ids is None:
        action_ids = [row["id"] for row in sql.action_page(conn, after_id=None, limit=ACTIONS_DRAWN,
                                                           story_id=story_id)]
    counts = activity.action_events(conn, action_ids, activity.first_event_since(conn, now - DAY))
    failed = activity.last_failed(conn, action_ids)
    return {action_id: (counts.get(action_id, 0), action_id in failed) for action_id in action_ids}


def version(conn: Connection, principal: Principal | None, story_id: int) -> str:
    """Changes when the story's numbers may have: a new event of the story, or a new log line (a failure writes
    one). Two index seeks: a live graph asks every second."""
    require(principal, Permission.STORIES_READ)
    if not activity.story_exists(conn, story_id):
        raise NotFound(f"no story with id {story_id}; /stories lists them")
    return f"{activity.newest_event(conn, story_id)}.{activity.newest_log(conn)}"


def action_logs(conn: Connection, principal: Principal | None, action_id: int, limit: int) -> list[dict[str, Any]]:
    """The action's newest log lines (retries, failures with their redacted errors)."""
    require(principal, Permission.LOGS_READ)
    return [{"id": row["id"], "level": row["level"], "message": row["message"], "created_at": iso(row["created_at"]),
             "story_run_guid": row["story_run"]} for row in log_rows(conn, action_id=action_id, limit=limit)]


# --------------------------------------------------------------------------- the export's diagram

LIMIT = 1e6
"""A coordinate beyond this is no position (an export is hostile input)."""


def _point(value: Any) -> tuple[float, float] | None:
    if (isinstance(value, list | tuple) and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < LIMIT for v in value)):
        return float(value[0]), float(value[1])
    return None


def diagram_layout(value: Any) -> dict[str, tuple[float, float]]:
    """``diagram_layout`` (a JSON text in exports, or an object) as guid -> (x, y); what is no position is left out."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {str(guid): point for guid, at in value.items() if (point := _point(at)) is not None}


def diagram_notes(value: Any) -> list[tuple[str, tuple[float, float] | None]]:
    """``diagram_notes`` as (text, position); a note without text is left out."""
    if not isinstance(value, list):
        return []
    return [(note["content"], _point(note.get("position"))) for note in value
            if isinstance(note, dict) and isinstance(note.get("content"), str) and note["content"].strip()]


def imported_as(conn: Connection, principal: Principal | None, guid: str) -> list[StoryLine]:
    """The stored stories with this guid (an import in mode ``new`` would clash with them)."""
    require(principal, Permission.STORIES_READ)
    return [StoryLine(row["id"], row["name"], False, row["actions"], None, 0, 0)
            for row in sql.stories_with(conn, guid=guid)]

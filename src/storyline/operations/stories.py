"""Stories as the API, the console and the CLI change them: listed, read, imported, exported, switched, deleted.

Importing is the one home of "a Tines export becomes a stored story": the import checks
(:func:`storyline.tines.importer.parse_story`), the modes (a new story, a replacement in
place, a copy beside the original) and the audit entry. ``storyline story import`` and
``POST /api/v1/stories/import`` both run it, so they refuse and accept the same exports.
It is two steps: :func:`prepare_import` checks the export without a database (the API runs
it off the single writer, which every webhook's answer waits on), :func:`save_import` stores
it in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.engine import Connection

from storyline.accounts.audit import record
from storyline.accounts.roles import Permission, Principal, allowed
from storyline.model import StoryDef
from storyline.operations.access import require
from storyline.operations.errors import Conflict, Invalid, NotFound
from storyline.operations.paging import Page, PageRequest, paginate
from storyline.store import stories as sql
from storyline.store.queries import iso
from storyline.tines.copies import copy_as_new
from storyline.tines.exporter import export_story
from storyline.tines.importer import TEXT_LIMITS, StoryFormatError, parse_story
from storyline.urls import webhook_url

ImportMode = Literal["new", "versionReplace", "copy"]
"""Tines' ``new`` and ``versionReplace``, and storyline's ``copy`` (``story import --as-new``)."""


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    # Tines' field names (https://www.tines.com/api/stories/get) where a field has a Tines twin.
    return {"id": row["id"], "guid": row["guid"], "name": row["name"], "description": row["description"],
            "disabled": bool(row["disabled"]), "keep_events_for": row["keep_events_for"],
            "send_to_story_enabled": bool(row["send_to_story_enabled"]), "actions_count": row["actions"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _row(conn: Connection, story_id: int) -> dict[str, Any]:
    rows = sql.story_page(conn, after_id=None, limit=1, story_id=story_id)
    if not rows:
        raise NotFound(f"no story with id {story_id}; GET /api/v1/stories lists them")
    return rows[0]


def list_stories(conn: Connection, principal: Principal | None, page: PageRequest) -> Page:
    require(principal, Permission.STORIES_READ)
    rows = sql.story_page(conn, after_id=page.after, limit=page.per_page + 1)
    return paginate([_shown(row) for row in rows], page)


def get_story(conn: Connection, principal: Principal | None, story_id: int, public_url: str = "") -> dict[str, Any]:
    """The story and its webhooks; their URLs (which hold the secret) only for a role that may read secrets."""
    who = require(principal, Permission.STORIES_READ)
    shown = _shown(_row(conn, story_id))
    secrets = allowed(who.role, Permission.WEBHOOK_SECRETS_READ)
    shown["webhooks"] = [
        {"action_id": hook["action_id"], "name": hook["name"], "path": hook["path"],
         **({"url": webhook_url(public_url, hook["path"], hook["secret"])} if secrets else {})}
        for hook in sql.story_webhooks(conn, story_id)
    ]
    return shown


# --------------------------------------------------------------------------- import


@dataclass
class PreparedImport:
    """A checked export, ready for :func:`save_import`."""

    story: StoryDef
    mode: ImportMode
    renamed: bool
    """A new name was given (Tines' ``new_name``): ``versionReplace`` then replaces the story of that name."""
    source: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Imported:
    story_id: int
    story: StoryDef
    created: bool
    warnings: list[str]


def prepare_import(principal: Principal | None, data: Any, *, mode: ImportMode = "new",
                   new_name: str | None = None, source: str = "") -> PreparedImport:
    """Check an export as ``story import`` does; 422 listing every problem, each with its action and option."""
    require(principal, Permission.STORIES_WRITE)
    try:
        story, warnings = parse_story(data, source=source)
    except StoryFormatError as exc:
        head = str(exc).split("\n", 1)[0]
        raise Invalid(head, [{"message": p.message, "action": p.action, "option": p.option}
                             for p in exc.located]) from None
    renamed = new_name is not None and new_name.strip() != ""
    if renamed:
        assert new_name is not None
        name = new_name.strip()
        if len(name) > TEXT_LIMITS["name"] or "\x00" in name:
            raise Invalid(f"new_name must be at most {TEXT_LIMITS['name']} characters, without NUL",
                          {"parameter": "new_name"})
        story.name = name
    return PreparedImport(story, mode, renamed, source, warnings)


def save_import(conn: Connection, principal: Principal | None, prepared: PreparedImport, *,
                now: float) -> Imported:
    """Store a prepared import in the caller's transaction, with its audit entry; 409 on a clash.

    ``new`` refuses a story whose guid is stored (Tines would make a second story; storyline
    identifies a story by its guid, and its webhook URLs by their paths). ``versionReplace``
    replaces, in place, the story named ``new_name`` when one is given (Tines: "update existing
    by name"), else the story with the export's guid, else imports it new; unchanged actions
    keep their events and queued runs. ``copy`` imports it beside the original with fresh guids.
    """
    who = require(principal, Permission.STORIES_WRITE)
    story, warnings = prepared.story, list(prepared.warnings)
    target: dict[str, Any] | None = None
    if prepared.mode == "copy":
        names, paths = sql.names_and_webhook_paths(conn)
        story, copied = copy_as_new(story, taken_names=names, taken_paths=paths)
        warnings += copied
    elif prepared.mode == "versionReplace":
        target = _replaced(conn, story, by_name=prepared.renamed)
        if target is not None:
            story.guid = target["guid"]
    else:
        existing = sql.stories_with(conn, guid=story.guid)
        if existing:
            raise Conflict(
                f"story {story.name!r} (guid {story.guid}) is already imported as {existing[0]['name']!r} "
                f"(id {existing[0]['id']}); import it with mode \"versionReplace\" (`--replace`) to update it in "
                "place (unchanged actions keep their events and queued runs), or mode \"copy\" (`--as-new`) "
                "for a copy beside it", {"story_id": existing[0]["id"]})
    try:
        story_id = sql.save_story(conn, story, replace=target is not None, now=now)
    except sql.StoryConflictError as exc:
        raise Conflict(str(exc)) from None
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    count = f"{len(story.actions)} actions"
    origin = f", from {prepared.source}" if prepared.source else ""
    summary = (f"replaced: {count} (was {target['actions']}), id {story_id}" if target is not None
               else f"imported{' as a copy' if prepared.mode == 'copy' else ''}: {count}{origin}, id {story_id}")
    record(conn, who.actor, "story.import", story.name, summary, now=now)
    return Imported(story_id, story, target is None, warnings)


def _replaced(conn: Connection, story: StoryDef, *, by_name: bool) -> dict[str, Any] | None:
    if by_name:
        named = sql.stories_with(conn, name=story.name)
        if len(named) > 1:
            listed = ", ".join(f"id {row['id']} (guid {row['guid']})" for row in named)
            raise Conflict(f"{len(named)} stories are named {story.name!r} ({listed}); rename one, or leave "
                           "new_name out to replace the story with the export's guid",
                           {"story_ids": [row["id"] for row in named]})
        if named:
            return named[0]
    same = sql.stories_with(conn, guid=story.guid)
    return same[0] if same else None


def import_story(conn: Connection, principal: Principal | None, data: Any, *, mode: ImportMode = "new",
                 new_name: str | None = None, source: str = "", now: float) -> Imported:
    """Both steps in one transaction (the command line, which has no writer to spare)."""
    prepared = prepare_import(principal, data, mode=mode, new_name=new_name, source=source)
    return save_import(conn, principal, prepared, now=now)


# --------------------------------------------------------------------------- export, switch, delete


def export(conn: Connection, principal: Principal | None, story_id: int) -> dict[str, Any]:
    """The Tines export, as ``story export`` writes it: it holds webhook secrets, so editors only."""
    require(principal, Permission.WEBHOOK_SECRETS_READ)
    story = sql.load_story_by_id(conn, story_id)
    if story is None:
        raise NotFound(f"no story with id {story_id}; GET /api/v1/stories lists them")
    return export_story(story)


def set_disabled(conn: Connection, principal: Principal | None, story_id: int, disabled: bool, *,
                 now: float) -> dict[str, Any]:
    """Disable (run nothing: webhooks refuse, schedules stop, queued jobs are held) or enable again."""
    who = require(principal, Permission.STORIES_WRITE)
    row = _row(conn, story_id)
    if bool(row["disabled"]) != disabled:
        released = sql.set_story_disabled(conn, story_id, disabled, now=now)
        summary = ("disabled (was enabled)" if disabled
                   else f"enabled (was disabled); {released} held job{'s' if released != 1 else ''} queued again")
        record(conn, who.actor, "story.disable" if disabled else "story.enable", row["name"],
               f"{summary}, id {story_id}", now=now)
    return _shown(_row(conn, story_id))


def delete(conn: Connection, principal: Principal | None, story_id: int, *, now: float) -> None:
    """Delete the story with its actions, runs, events and queued jobs."""
    who = require(principal, Permission.STORIES_WRITE)
    row = _row(conn, story_id)
    sql.delete_story_by_id(conn, story_id)
    record(conn, who.actor, "story.delete", row["name"],
           f"deleted with its {row['actions']} actions, runs and events, id {story_id}", now=now)

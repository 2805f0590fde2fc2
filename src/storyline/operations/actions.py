"""Actions as the API and the console see them: listed, read, and edited (name, options, disabled).

An edit is checked as an import checks the whole story (the action type's option validation,
its templates, the story's webhook paths), because it is stored as one: the story with the
edited action is saved in place, which keeps every action's id, events and queued runs and
moves the story's ``updated_at``, so every running engine's catalog picks the change up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts.audit import record
from storyline.accounts.roles import Permission, Principal, allowed
from storyline.model import WEBHOOK_TYPE, action_key
from storyline.operations.access import require
from storyline.operations.errors import Conflict, Invalid, NotFound
from storyline.operations.paging import Page, PageRequest, paginate
from storyline.store import stories as sql
from storyline.tines.exporter import export_story
from storyline.tines.importer import TEXT_LIMITS, StoryFormatError, parse_story

HIDDEN = "[hidden: reading webhook secrets needs the editor role]"
_NOT_SECRET = frozenset({"type", "header", "algorithm", "prefix", "encoding"})
"""Keys of a webhook's ``verification`` that name how it checks, not with what."""


def without_webhook_secrets(type_: str, options: dict[str, Any]) -> dict[str, Any]:
    """A webhook's options as a viewer sees them: its URL secret and its verification secrets hidden."""
    if type_ != WEBHOOK_TYPE:
        return options
    shown = dict(options)
    if shown.get("secret") not in (None, ""):
        shown["secret"] = HIDDEN
    verification = shown.get("verification")
    if isinstance(verification, dict):
        shown["verification"] = {key: value if key in _NOT_SECRET else HIDDEN for key, value in verification.items()}
    elif verification is not None:
        shown["verification"] = HIDDEN
    return shown


def _shown(row: dict[str, Any], secrets: bool) -> dict[str, Any]:
    # Tines' field names (https://www.tines.com/api/actions/get); ``key`` is storyline's (templates use it).
    options = row["options"] or {}
    return {"id": row["id"], "type": row["type"], "name": row["name"], "key": row["key"], "guid": row["guid"],
            "story_id": row["story_id"], "disabled": bool(row["disabled"]),
            "options": options if secrets else without_webhook_secrets(row["type"], options),
            "schedule": row["schedule"], "sources": row["sources"], "receivers": row["receivers"]}


def list_actions(conn: Connection, principal: Principal | None, page: PageRequest,
                 story_id: int | None = None) -> Page:
    who = require(principal, Permission.STORIES_READ)
    rows = sql.action_page(conn, after_id=page.after, limit=page.per_page + 1, story_id=story_id)
    secrets = allowed(who.role, Permission.WEBHOOK_SECRETS_READ)
    return paginate([_shown(row, secrets) for row in rows], page)


def _row(conn: Connection, action_id: int) -> dict[str, Any]:
    rows = sql.action_page(conn, after_id=None, limit=1, action_id=action_id)
    if not rows:
        raise NotFound(f"no action with id {action_id}; GET /api/v1/actions?story_id=... lists them")
    return rows[0]


def get_action(conn: Connection, principal: Principal | None, action_id: int) -> dict[str, Any]:
    who = require(principal, Permission.STORIES_READ)
    return _shown(_row(conn, action_id), allowed(who.role, Permission.WEBHOOK_SECRETS_READ))


def update_action(conn: Connection, principal: Principal | None, action_id: int, changes: dict[str, Any], *,
                  now: float) -> dict[str, Any]:
    """Change ``name``, ``options`` (replaced whole, as in Tines) and ``disabled``; 422 naming the action and
    option when the story would not import, 409 when a webhook path is another story's."""
    who = require(principal, Permission.STORIES_WRITE)
    row = _row(conn, action_id)
    story = sql.load_story_by_id(conn, row["story_id"])
    assert story is not None, "an action's story exists"
    action = next(a for a in story.actions if a.guid == row["guid"])
    before = (action.name, dict(action.options), action.disabled)
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name or len(name) > TEXT_LIMITS["name"]:
            raise Invalid(f"name must be 1 to {TEXT_LIMITS['name']} characters",
                          [{"message": "name is empty or too long", "action": action.name, "option": None}])
        action.name, action.key = name, action_key(name)
    if "options" in changes:
        action.options = changes["options"]
    if "disabled" in changes:
        action.disabled = bool(changes["disabled"])
    summary = _summary(before, (action.name, action.options, action.disabled))
    if not summary:
        return get_action(conn, principal, action_id)
    try:
        parse_story(export_story(story), source="")
    except StoryFormatError as exc:
        mine = [p for p in exc.located if p.action in (None, action.name)] or exc.located
        raise Invalid(f"action {action.name!r} ({action.type}) would not import: {len(mine)} "
                      f"problem{'s' if len(mine) != 1 else ''}",
                      [{"message": p.message, "action": p.action, "option": p.option} for p in mine]) from None
    try:
        sql.save_story(conn, story, replace=True, now=now)
    except sql.StoryConflictError as exc:
        raise Conflict(str(exc)) from None
    record(conn, who.actor, "action.update", f"{action.name} (id {action_id}) in {story.name}", summary, now=now)
    return get_action(conn, principal, action_id)


def _summary(before: tuple[str, dict[str, Any], bool], after: tuple[str, dict[str, Any], bool]) -> str:
    """What changed, never a value: options may hold secrets, so only the names of the options that changed."""
    parts = []
    if before[0] != after[0]:
        parts.append(f"name {before[0]!r} -> {after[0]!r}")
    changed = sorted(key for key in before[1].keys() | after[1].keys() if before[1].get(key) != after[1].get(key))
    if changed:
        listed = ", ".join(repr(key[:60]) for key in changed[:20])
        parts.append(f"options changed: {listed}{' and more' if len(changed) > 20 else ''}")
    if before[2] != after[2]:
        parts.append("disabled" if after[2] else "enabled")
    return "; ".join(parts)

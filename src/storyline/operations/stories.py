"""Stories as the API and the console see them: listed, read (and, next, imported, exported, switched)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts.roles import Permission, Principal
from storyline.operations.access import require
from storyline.operations.errors import NotFound
from storyline.operations.paging import Page, PageRequest, paginate
from storyline.store import stories as sql
from storyline.store.queries import iso


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    # Tines' field names (https://www.tines.com/api/stories/get) where a field has a Tines twin.
    return {"id": row["id"], "guid": row["guid"], "name": row["name"], "description": row["description"],
            "disabled": bool(row["disabled"]), "keep_events_for": row["keep_events_for"],
            "send_to_story_enabled": bool(row["send_to_story_enabled"]), "actions_count": row["actions"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def list_stories(conn: Connection, principal: Principal | None, page: PageRequest) -> Page:
    require(principal, Permission.STORIES_READ)
    rows = sql.story_page(conn, after_id=page.after, limit=page.per_page + 1)
    return paginate([_shown(row) for row in rows], page)


def get_story(conn: Connection, principal: Principal | None, story_id: int) -> dict[str, Any]:
    require(principal, Permission.STORIES_READ)
    rows = sql.story_page(conn, after_id=None, limit=1, story_id=story_id)
    if not rows:
        raise NotFound(f"no story with id {story_id}; GET /api/v1/stories lists them")
    return _shown(rows[0])

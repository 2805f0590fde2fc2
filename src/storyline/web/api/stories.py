"""``/api/v1/stories``: list and read (import, export, delete, enable and disable join here)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from storyline.accounts.roles import Permission
from storyline.operations import stories
from storyline.operations.paging import page_request
from storyline.web.api.endpoint import Call, Endpoint


class PageQuery(BaseModel):
    """Every list takes these: ``per_page`` (1 to 500, default 20) and the ``cursor`` of the previous answer's meta."""

    per_page: int | None = Field(default=None, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=512)


async def list_stories(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(stories.list_stories, call.principal, page)


async def get_story(call: Call) -> Any:
    return await call.service.db.read(stories.get_story, call.principal, call.path["id"])


ENDPOINTS = [
    Endpoint("GET", "/stories", Permission.STORIES_READ, list_stories, "List stories", query=PageQuery,
             collection="stories", tines="GET /api/v1/stories (cursor instead of page numbers)"),
    Endpoint("GET", "/stories/{id:int}", Permission.STORIES_READ, get_story, "Get a story",
             tines="GET /api/v1/stories/{story_id}"),
]

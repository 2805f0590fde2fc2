"""``/api/v1/stories``: list, read, import, export, enable and disable, delete."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.responses import Response

from storyline.accounts.roles import Permission
from storyline.operations import stories
from storyline.operations.paging import page_request
from storyline.web.api.endpoint import Call, Endpoint, json_response


class PageQuery(BaseModel):
    """Every list takes these: ``per_page`` (1 to 500, default 20) and the ``cursor`` of the previous answer's meta."""

    per_page: int | None = Field(default=None, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=512)


class ImportBody(BaseModel):
    """Tines' import body. ``team_id`` and ``folder_id`` are accepted and ignored (storyline has neither)."""

    data: dict[str, Any] = Field(description="The story in Tines' export form")
    new_name: str | None = Field(default=None, max_length=255,
                                 description="The story's name (default: the export's); versionReplace replaces "
                                             "the story of this name")
    mode: Literal["new", "versionReplace", "copy"] = Field(
        default="new", description="new: refuse a story already imported (409); versionReplace: update it in "
                                   "place; copy: import beside it with fresh guids (storyline's addition)")
    team_id: int | None = None
    folder_id: int | None = None


class StoryUpdate(BaseModel):
    """Tines' update-story body; storyline changes ``disabled`` only and refuses other fields (422)."""

    model_config = ConfigDict(extra="forbid")

    disabled: StrictBool | None = None


async def list_stories(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(stories.list_stories, call.principal, page)


async def get_story(call: Call) -> Any:
    return await call.service.db.read(stories.get_story, call.principal, call.path["id"],
                                      call.service.settings.public_url)


async def import_story(call: Call) -> Response:
    body: ImportBody = call.body
    # Checking a story is CPU work: off the event loop, and off the one writer every webhook's answer waits on.
    prepared = await asyncio.to_thread(stories.prepare_import, call.principal, body.data, mode=body.mode,
                                       new_name=body.new_name)
    imported = await call.service.db.write(stories.save_import, call.principal, prepared, now=time.time())
    await call.service.catalogs.get(force=True)
    shown = await call.service.db.read(stories.get_story, call.principal, imported.story_id,
                                       call.service.settings.public_url)
    return json_response({**shown, "warnings": imported.warnings}, 201 if imported.created else 200)


async def export_story(call: Call) -> Any:
    return await call.service.db.read(stories.export, call.principal, call.path["id"])


async def update_story(call: Call) -> Any:
    body: StoryUpdate = call.body
    if body.disabled is None:
        return await get_story(call)
    shown = await call.service.db.write(stories.set_disabled, call.principal, call.path["id"], body.disabled,
                                        now=time.time())
    await call.service.catalogs.get(force=True)
    return shown


async def delete_story(call: Call) -> Response:
    await call.service.db.write(stories.delete, call.principal, call.path["id"], now=time.time())
    await call.service.catalogs.get(force=True)
    return Response(status_code=204)


ENDPOINTS = [
    Endpoint("GET", "/stories", Permission.STORIES_READ, list_stories, "List stories", query=PageQuery,
             collection="stories", tines="GET /api/v1/stories (cursor instead of page numbers)"),
    Endpoint("GET", "/stories/{id:int}", Permission.STORIES_READ, get_story, "Get a story and its webhooks",
             tines="GET /api/v1/stories/{story_id}; adds `webhooks` (URLs with their secret for editors only)"),
    Endpoint("POST", "/stories/import", Permission.STORIES_WRITE, import_story,
             "Import a Tines export (as `storyline story import`)", body=ImportBody, status=201,
             tines="POST /api/v1/stories/import; `new` answers 409 for a guid already imported; adds mode `copy`; "
                   "answers the story as GET does, with `warnings`"),
    Endpoint("GET", "/stories/{id:int}/export", Permission.WEBHOOK_SECRETS_READ, export_story,
             "Export a story as Tines JSON (holds webhook secrets)",
             tines="GET /api/v1/stories/{story_id}/export, the export itself (not wrapped)"),
    Endpoint("PUT", "/stories/{id:int}", Permission.STORIES_WRITE, update_story,
             "Enable or disable a story (`{\"disabled\": true}`)", body=StoryUpdate,
             tines="PUT /api/v1/stories/{story_id}; only `disabled`, other fields are refused with 422"),
    Endpoint("DELETE", "/stories/{id:int}", Permission.STORIES_WRITE, delete_story,
             "Delete a story with its actions, runs and events", status=204,
             tines="DELETE /api/v1/stories/{story_id}"),
]

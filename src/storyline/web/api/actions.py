"""``/api/v1/actions``: list (of a story), read, and edit name, options and disabled."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from storyline.accounts.roles import Permission
from storyline.operations import actions
from storyline.operations.paging import page_request
from storyline.web.api.endpoint import Call, Endpoint
from storyline.web.api.stories import PageQuery


class ActionQuery(PageQuery):
    story_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Only this story's actions")


class ActionUpdate(BaseModel):
    """Tines' update-action body, the fields storyline changes; others (schedule, links, ...) are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    options: dict[str, Any] | None = Field(default=None, description="Replaces the options block whole")
    disabled: StrictBool | None = None


async def list_actions(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(actions.list_actions, call.principal, page, call.query.story_id)


async def get_action(call: Call) -> Any:
    return await call.service.db.read(actions.get_action, call.principal, call.path["id"])


async def update_action(call: Call) -> Any:
    changes = call.body.model_dump(exclude_none=True)
    shown = await call.service.db.write(actions.update_action, call.principal, call.path["id"], changes,
                                        now=time.time())
    await call.service.catalogs.get(force=True)
    return shown


ENDPOINTS = [
    Endpoint("GET", "/actions", Permission.STORIES_READ, list_actions, "List actions (of a story)",
             query=ActionQuery, collection="agents",
             tines="GET /api/v1/actions?story_id= (answered under `agents`, as Tines does; cursor instead of "
                   "page numbers; webhook secrets hidden from viewers)"),
    Endpoint("GET", "/actions/{id:int}", Permission.STORIES_READ, get_action, "Get an action",
             tines="GET /api/v1/actions/{action_id}; webhook secrets hidden from viewers"),
    Endpoint("PUT", "/actions/{id:int}", Permission.STORIES_WRITE, update_action,
             "Change an action's name, options or disabled (checked as an import)", body=ActionUpdate,
             tines="PUT /api/v1/actions/{action_id}; name, options and disabled only, other fields refused"),
]

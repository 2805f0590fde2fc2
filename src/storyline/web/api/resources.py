"""``/api/v1/global_resources``: Tines' resources API. Viewers read, admins change.

A story that calls its own Tines tenant (``STORYLINE_TINES_TENANT_HOSTS``) lands here too, so the
bodies and answers follow Tines': ``{name, value, value_type}`` in, ``{id, name, value, value_type,
...}`` out, the value as text unless ``typed_value=true``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from storyline.accounts.roles import Permission
from storyline.operations import resources
from storyline.operations.paging import page_request
from storyline.web.api.endpoint import Call, Endpoint, json_response
from storyline.web.api.stories import PageQuery


class TypedQuery(BaseModel):
    typed_value: bool = False
    """Tines answers values as text; ``true`` answers a JSON resource as its object or array."""


class ResourcePageQuery(PageQuery, TypedQuery):
    pass


class ResourceBody(BaseModel):
    """Tines' body; ``team_id``, ``folder_id``, ``read_access``, ``description`` ... are accepted and ignored."""

    name: str = Field(max_length=255)
    value: Any = None
    value_type: Literal["text", "json"] | None = None
    typed_value: bool = False


class ReplaceBody(BaseModel):
    name: str | None = Field(default=None, max_length=255)
    value: Any = None
    value_type: Literal["text", "json"] | None = None
    typed_value: bool = False


async def list_resources(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(resources.list_resources, call.principal, page, call.query.typed_value)


async def get_resource(call: Call) -> Any:
    return await call.service.db.read(resources.get_resource, call.principal, call.path["id"],
                                      call.query.typed_value)


async def create_resource(call: Call) -> Any:
    body = call.body
    shown = await call.service.db.write(resources.create_resource, call.principal, body.name, body.value,
                                        body.value_type, time.time(), body.typed_value)
    call.service.runtime.vault.expire()
    return json_response(shown, 201)


async def replace_resource(call: Call) -> Any:
    body = call.body
    shown = await call.service.db.write(resources.replace_resource, call.principal, call.path["id"], body.value,
                                        body.value_type, body.name, time.time(), body.typed_value)
    call.service.runtime.vault.expire()
    return shown


async def delete_resource(call: Call) -> Any:
    await call.service.db.write(resources.delete_resource, call.principal, call.path["id"])
    call.service.runtime.vault.expire()
    return Response(status_code=204)


ENDPOINTS = [
    Endpoint("GET", "/global_resources", Permission.RESOURCES_READ, list_resources, "List resources",
             query=ResourcePageQuery, collection="global_resources",
             tines="GET /api/v1/global_resources (cursor instead of page numbers)"),
    Endpoint("POST", "/global_resources", Permission.RESOURCES_WRITE, create_resource, "Create a resource (201)",
             body=ResourceBody, status=201,
             tines="POST /api/v1/global_resources (text and JSON resources; a taken name is a 409)"),
    Endpoint("GET", "/global_resources/{id:int}", Permission.RESOURCES_READ, get_resource, "Get a resource",
             query=TypedQuery, tines="GET /api/v1/global_resources/{resource_id}"),
    Endpoint("PUT", "/global_resources/{id:int}", Permission.RESOURCES_WRITE, replace_resource,
             "Replace a resource's value (and its name, when given)", body=ReplaceBody,
             tines="PUT /api/v1/global_resources/{resource_id}"),
    Endpoint("DELETE", "/global_resources/{id:int}", Permission.RESOURCES_WRITE, delete_resource,
             "Delete a resource (204)", status=204, tines="DELETE /api/v1/global_resources/{resource_id}"),
]

"""The REST API under ``/api/v1``: JSON in and out, declared as a table of :class:`Endpoint`.

The table is the one source for the routes, their access rules, their OpenAPI description
(``/api/v1/openapi.json``, ``/api/v1/docs``) and the authorization matrix test. Handlers are thin:
they parse with pydantic and call :mod:`storyline.operations`, which check roles again, audit and
do the work. Paths and field names follow Tines' API where it has one (docs/api.md maps them).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from storyline.web.api import accounts, actions, credentials, docs, packs, resources, runs, stories
from storyline.web.api.endpoint import Endpoint, routes_for

ENDPOINTS: list[Endpoint] = [*stories.ENDPOINTS, *actions.ENDPOINTS, *runs.ENDPOINTS, *accounts.ENDPOINTS,
                             *credentials.ENDPOINTS, *resources.ENDPOINTS, *packs.ENDPOINTS]
"""Every API endpoint; a module's table joins here."""


def routes() -> list[BaseRoute]:
    return [*routes_for(ENDPOINTS), *docs.routes(ENDPOINTS)]

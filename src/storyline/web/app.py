"""The ASGI app: webhooks, prompt links, health, and an index that says what this server is."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline import sandbox
from storyline.config import Settings
from storyline.engine.service import Service
from storyline.operations.errors import NotFound
from storyline.web import api, prompts, webhooks
from storyline.web.access import error_response, guarded, open_to_anyone, public
from storyline.web.health import Readiness
from storyline.web.pages import SecurityHeaders, page
from storyline.web.requestlog import RequestLog

log = logging.getLogger(__name__)

README_SECTION = "Serving on a network"
INDEX = (
    "This is a storyline server: a self-hosted security automation engine that runs Tines-format stories. "
    "It answers its stories' webhooks and prompt links; it has no web console.",
    f"Its stories, their webhook URLs and their events are on the command line of the machine it runs on. "
    f"How to use it: storyline's README, section \u201c{README_SECTION}\u201d.",
)


def create_app(settings: Settings, *, worker: bool = True) -> Starlette:
    service = Service(settings, worker=worker)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    readiness = Readiness(service.db)

    async def healthz(request: Request) -> Response:
        problem = await readiness.database()
        status = "ok" if problem is None else "unavailable"
        return JSONResponse({"status": status, "worker": service.worker is not None,
                             "checks": {"database": problem or "ok"}},
                            status_code=200 if problem is None else 503)

    async def index(request: Request) -> Response:
        # No login yet, so nothing here may name a story, a webhook or a secret.
        return page(200, "storyline", *INDEX)

    async def no_such_api(request: Request) -> Response:
        return error_response(request, NotFound(f"no API endpoint {request.method} {request.url.path}; "
                                                "/api/v1/docs lists them"))

    app = Starlette(
        routes=[
            *open_to_anyone([Route("/", index)], "says what this server is, and nothing stored"),
            *open_to_anyone([Route("/healthz", healthz)], "health checks from load balancers"),
            *open_to_anyone(webhooks.routes(service), "webhooks authenticate their senders themselves"),
            *open_to_anyone(prompts.routes(service), "prompt links carry their own signature"),
            *open_to_anyone(sandbox.routes() if settings.sandbox else [],
                            "the demo's stand-ins for Slack, Teams and the enrichment sources (serve --demo)"),
            *api.routes(),
            guarded("/api/{rest:path}", no_such_api, rule=public("answers 404 for unknown API paths"),
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        middleware=[Middleware(RequestLog), Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.service = service
    return app

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
from storyline.web import prompts, webhooks
from storyline.web.health import Readiness
from storyline.web.pages import SecurityHeaders, page

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

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            *webhooks.routes(service),
            *prompts.routes(service),
            *(sandbox.routes() if settings.sandbox else []),
        ],
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.service = service
    return app

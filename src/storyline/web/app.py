"""The ASGI app: webhooks, prompt links, health, the REST API, sign-in, and an index that says what this server is."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline import sandbox
from storyline.config import Settings
from storyline.engine.service import Service
from storyline.operations.errors import NotFound, OperationError
from storyline.standins.outbox import Outbox
from storyline.web import api, console, login, prompts, webhooks
from storyline.web.access import (
    csrf_token_of,
    error_response,
    guarded,
    open_to_anyone,
    public,
    session_principal,
)
from storyline.web.health import Readiness
from storyline.web.pages import SecurityHeaders
from storyline.web.requestlog import RequestLog
from storyline.web.templates import render_page

log = logging.getLogger(__name__)

README_SECTION = "Serving on a network"
INDEX = (
    "This is a storyline server: a self-hosted security automation engine that runs Tines-format stories. "
    "It answers its stories' webhooks and prompt links; its web console has only the demo's chat playground so far.",
    f"Its stories, their webhook URLs and their events are on the command line of the machine it runs on. "
    f"How to use it: storyline's README, section \u201c{README_SECTION}\u201d.",
)
PLAYGROUND = "This is the demo (serve --demo): chat with its bots as a Slack or Teams user at /playground."
SIGNED_IN = (
    "This is a storyline server: a self-hosted security automation engine that runs Tines-format stories.",
    "Its web console is still to come; the REST API is described at /api/v1/docs.",
)


def create_app(
    settings: Settings, *, worker: bool = True, workers: int = 0, clock: Callable[[], float] = time.time,
) -> Starlette:
    """The app; ``workers`` worker processes run the jobs (0: ``worker`` says whether this process does);
    ``clock`` tells sessions, sign-in throttling and setup links the time (tests move their own)."""
    service = Service(settings, worker=worker, workers=workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    readiness = Readiness(service.db)
    # What the bots say to the sandbox's Slack and Teams: /_sandbox/messages and the playground show it.
    outbox = Outbox() if settings.sandbox else None

    async def healthz(request: Request) -> Response:
        checks = {"database": await readiness.database()}
        body: dict[str, object] = {"worker": service.worker is not None or service.supervisor is not None}
        if service.supervisor is not None:
            # A worker process down means accepted runs wait: this node is not whole until it runs again.
            checks["workers"] = service.supervisor.problem()
            body["workers"] = service.supervisor.summary()
        healthy = all(problem is None for problem in checks.values())
        return JSONResponse({"status": "ok" if healthy else "unavailable", **body,
                             "checks": {name: problem or "ok" for name, problem in checks.items()}},
                            status_code=200 if healthy else 503)

    async def index(request: Request) -> Response:
        # Nothing here may name a story, a webhook or a secret: anyone may read it.
        try:
            request.state.principal = await session_principal(request)
        except OperationError:
            request.state.principal = None
        user = request.state.principal
        paragraphs = (*(INDEX if user is None else SIGNED_IN), *([PLAYGROUND] if settings.sandbox else []))
        return render_page(200, "index.html", title="storyline", user=user, csrf_token=csrf_token_of(request),
                      error="", paragraphs=paragraphs)

    async def no_such_api(request: Request) -> Response:
        return error_response(request, NotFound(f"no API endpoint {request.method} {request.url.path}; "
                                                "/api/v1/docs lists them"))

    async def unrouted(request: Request, exc: Exception) -> Response:
        # What no route matched at all (a path with a line break in it: ``{rest:path}`` stops there):
        # the API still answers JSON; elsewhere Starlette's plain answer stands.
        status = getattr(exc, "status_code", 404)
        if request.url.path.startswith("/api/"):
            return await no_such_api(request)
        return Response(status_code=status)

    app = Starlette(
        routes=[
            guarded("/", index, rule=public("says what this server is, and nothing stored")),
            *login.routes(),
            *open_to_anyone([Route("/healthz", healthz)], "health checks from load balancers"),
            *open_to_anyone(webhooks.routes(service), "webhooks authenticate their senders themselves"),
            *open_to_anyone(prompts.routes(service), "prompt links carry their own signature"),
            *open_to_anyone(sandbox.routes(outbox) if outbox is not None else [],
                            "the demo's stand-ins for Slack, Teams and the enrichment sources (serve --demo)"),
            *console.routes(service, outbox),
            *api.routes(),
            guarded("/api/{rest:path}", no_such_api, rule=public("answers 404 for unknown API paths"),
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        middleware=[Middleware(RequestLog), Middleware(SecurityHeaders)],
        exception_handlers={404: unrouted},
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.clock = clock
    return app

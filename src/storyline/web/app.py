"""The ASGI app: webhooks, health, and a small index of what is served."""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from storyline import sandbox
from storyline.config import Settings
from storyline.engine.service import Service
from storyline.web import prompts, webhooks

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, worker: bool = True) -> Starlette:
    service = Service(settings, worker=worker)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "worker": service.worker is not None})

    async def index(request: Request) -> Response:
        catalog = service.catalogs.current
        rows = []
        for path, action in sorted(catalog.webhooks.items(), key=lambda item: item[1].story_name):
            url = f"{settings.public_url}/webhook/{path}/{action.options.get('secret', '')}"
            rows.append(
                f"<tr><td>{html.escape(action.story_name)}</td><td>{html.escape(action.name)}</td>"
                f"<td><code>{html.escape(url)}</code></td></tr>"
            )
        body = (
            "<!doctype html><title>storyline</title><h1>storyline</h1>"
            "<table><tr><th>story</th><th>webhook</th><th>URL</th></tr>" + "".join(rows) + "</table>"
        )
        return HTMLResponse(body)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            *webhooks.routes(service),
            *prompts.routes(service),
            *(sandbox.routes() if settings.sandbox else []),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app

"""POST /webhook/<path>/<secret> (or ``Authorization: Bearer <secret>``): HTTP in, ``storyline.engine.intake``, HTTP out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.actions import webhook
from storyline.engine import intake
from storyline.engine.service import Service


def routes(service: Service) -> list[Route]:
    async def receive(request: Request) -> Response:
        delivery = intake.Delivery(
            path=request.path_params["path"],
            secret=request.path_params.get("secret") or _bearer(request),
            method=request.method,
            headers=request.headers,
            query=request.query_params,
            body=_body(request),
        )
        return _response(await intake.receive(service, delivery))

    methods = [verb.upper() for verb in webhook.VERBS]
    return [
        Route("/webhook/{path}/{secret}", receive, methods=methods),
        Route("/webhook/{path}", receive, methods=methods),
    ]


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise intake.Disconnected from None


def _response(reply: intake.Reply) -> Response:
    headers = dict(reply.headers)
    if reply.content is None:
        return Response(status_code=reply.status, headers=headers)
    if isinstance(reply.content, str):
        return Response(reply.content, status_code=reply.status, headers=headers, media_type=reply.media_type)
    return JSONResponse(reply.content, status_code=reply.status, headers=headers)

"""A small httpbin: generic endpoints for testing HTTP plumbing rather than a service.

* ``/anything/...`` (any method): echoes method, url (its query as sent), path, args, headers, body, json, form
* ``/status/{code}``: that status, with a short JSON body (``Retry-After`` from ``?retry_after=``)
* ``/redirect-to?url=...&status_code=302``: a redirect (absolute or relative)
* ``/redirect-loop``: redirects to itself forever
* ``/bytes/{n}``: ``n`` bytes with a Content-Length; ``/stream-bytes/{n}``: chunked, no length
* ``/text``: ``text/plain``; ``/html``: ``text/html``; ``/json-unlabelled``: JSON sent as text/plain
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class FakeHttpbin(FakeServer):
    """Generic echo/status/redirect/size endpoints on a local port."""

    def build_app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Route("/anything", _anything, methods=ALL_METHODS),
                Route("/anything/{rest:path}", _anything, methods=ALL_METHODS),
                Route("/status/{code:int}", _status, methods=ALL_METHODS),
                Route("/redirect-to", _redirect_to, methods=ALL_METHODS),
                Route("/redirect-loop", lambda _: RedirectResponse("/redirect-loop"), methods=ALL_METHODS),
                Route("/cookies/set", _set_cookie, methods=["GET"]),
                Route("/bytes/{n:int}", _bytes, methods=["GET"]),
                Route("/stream-bytes/{n:int}", _stream_bytes, methods=["GET"]),
                Route("/text", lambda _: PlainTextResponse("plain words"), methods=["GET"]),
                Route("/html", lambda _: Response("<p>hi</p>", media_type="text/html"), methods=["GET"]),
                Route(
                    "/json-unlabelled",
                    lambda _: PlainTextResponse('{"unlabelled": true}'),
                    methods=["GET"],
                ),
            ]
        )


async def _anything(request: Request) -> Response:
    body = await request.body()
    text = body.decode("utf-8", errors="replace")
    content_type = request.headers.get("content-type", "")
    parsed_json = None
    if body and "json" in content_type:
        try:
            parsed_json = json.loads(body)
        except ValueError:
            parsed_json = None
    form = dict(parse_qsl(text)) if "x-www-form-urlencoded" in content_type else None
    return JSONResponse(
        {
            "method": request.method,
            "url": str(request.url),
            "path": request.url.path,
            "args": dict(request.query_params),
            "multi_args": {k: request.query_params.getlist(k) for k in request.query_params},
            "headers": dict(request.headers),
            "data": text,
            "json": parsed_json,
            "form": form,
        }
    )


async def _status(request: Request) -> Response:
    code = request.path_params["code"]
    headers = {}
    if "retry_after" in request.query_params:
        headers["retry-after"] = request.query_params["retry_after"]
    if code in (204, 304) or request.method == "HEAD":
        return Response(status_code=code, headers=headers)
    return JSONResponse({"status": code}, status_code=code, headers=headers)


async def _redirect_to(request: Request) -> Response:
    status = int(request.query_params.get("status_code", "302"))
    return RedirectResponse(request.query_params["url"], status_code=status)


async def _set_cookie(request: Request) -> Response:
    response = JSONResponse({"set": dict(request.query_params)})
    for name, value in request.query_params.items():
        response.set_cookie(name, value)
    return response


async def _bytes(request: Request) -> Response:
    return Response(b"x" * request.path_params["n"], media_type="application/octet-stream")


async def _stream_bytes(request: Request) -> Response:
    n = request.path_params["n"]

    async def chunks() -> AsyncIterator[bytes]:
        left = n
        while left > 0:
            size = min(left, 64 * 1024)
            left -= size
            yield b"x" * size

    return StreamingResponse(chunks(), media_type="application/octet-stream")

"""Who is asking, and whether they may: every route of the app says so in one place.

Each route is built with :func:`guarded`, which attaches its :class:`Rule`: either public (with the
reason: webhooks, prompt links, health, the login page, the API's schema) or the permission it
needs. The guard resolves the principal (an API token, Tines' legacy ``x-user-token`` header, or a
browser session), answers 401/403 before the endpoint runs, and asks for the CSRF token on
state-changing requests a browser session made. ``tests/.../test_authorization_matrix.py`` walks
the app's routes and fails on one without a rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from storyline.accounts import sessions, tokens
from storyline.accounts.roles import Permission, Principal
from storyline.engine.service import Service
from storyline.operations.access import require
from storyline.operations.errors import Forbidden, Invalid, OperationError, TooMany, Unauthorized
from storyline.web.pages import page

Endpoint = Callable[[Request], Awaitable[Response]]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "x-user-token"
"""Tines' legacy API authentication (with ``x-user-email``, which a token does not need)."""


@dataclass(frozen=True)
class Rule:
    """What a route needs: ``permission``, or nothing when ``public`` says why anyone may call it."""

    permission: Permission | None = None
    public: str = ""

    def __post_init__(self) -> None:
        if (self.permission is None) == (not self.public):
            raise ValueError("a rule needs a permission, or the reason the route is public")


def public(reason: str) -> Rule:
    return Rule(public=reason)


def needs(permission: Permission) -> Rule:
    return Rule(permission=permission)


def rule_of(route: BaseRoute) -> Rule | None:
    """The rule a route was built with (None: a route built without :func:`guarded`, a bug)."""
    return getattr(route, "rule", None)


def guarded(path: str, endpoint: Endpoint, *, rule: Rule, methods: Sequence[str] = ("GET",),
            name: str | None = None) -> Route:
    """A route that checks ``rule`` before ``endpoint`` runs; the principal is on ``request.state.principal``."""

    async def checked(request: Request) -> Response:
        request.state.principal = None
        try:
            if rule.permission is not None:
                principal = await authenticate(request)
                require(principal, rule.permission)
                request.state.principal = principal
            return await endpoint(request)
        except OperationError as exc:
            return error_response(request, exc)

    route = Route(path, checked, methods=list(methods), name=name or endpoint.__name__)
    route.rule = rule  # type: ignore[attr-defined]
    return route


def open_to_anyone(routes: Sequence[BaseRoute], reason: str) -> list[BaseRoute]:
    """Mark routes that authenticate their callers their own way (webhooks, prompt links) or show nothing stored."""
    for route in routes:
        route.rule = public(reason)  # type: ignore[attr-defined]
    return list(routes)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def authenticate(request: Request) -> Principal | None:
    """The principal behind the request: a bearer token, a legacy token header, or a session cookie.

    A token that is sent but not valid is a 401 of its own (not a fall-back to the cookie): a
    script with a revoked token should hear so, not act as whoever is signed in in the browser.
    """
    service = service_of(request)
    authorization = request.headers.get("authorization")
    token = request.headers.get(TOKEN_HEADER)
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("send the API token as `Authorization: Bearer stl_...`")
        token = credentials.strip()
    if token is not None:
        now = clock(request)
        use = await service.db.read(lambda conn: tokens.lookup_token(conn, token, now=now))
        if use is None:
            raise Unauthorized("the API token is not valid (revoked, or mistyped); "
                               "`storyline token list` shows the live ones")
        if use.stale:
            await service.db.write(tokens.record_use, use.token_id, now=now)
        return use.principal
    return await session_principal(request)


def clock(request: Request) -> float:
    """Now, by the app's clock (tests give ``create_app`` one they move by hand)."""
    now: Callable[[], float] = request.app.state.clock
    return now()


def lifetime(service: Service) -> sessions.Lifetime:
    return sessions.Lifetime.of(service.settings.session_idle_hours, service.settings.session_max_days)


async def session_principal(request: Request) -> Principal | None:
    """The signed-in user of the ``storyline_session`` cookie, or None (no cookie, or a session that ended).

    A state-changing request must carry the session's CSRF token (``X-CSRF-Token``, or the form field
    ``csrf_token``), else 403: the cookie alone proves only that a browser sent it, not which page made
    it send. The session and its id are left on ``request.state`` for pages that render a form.
    """
    session_id = request.cookies.get(sessions.COOKIE)
    if not session_id:
        return None
    service, now = service_of(request), clock(request)
    life = lifetime(service)
    session = await service.db.read(lambda conn: sessions.lookup(conn, session_id, life, now=now))
    if session is None:
        return None
    if request.method in UNSAFE_METHODS:
        presented = request.headers.get(sessions.CSRF_HEADER)
        if presented is None:
            presented = (await read_form(request)).get(sessions.CSRF_FIELD)
        if not sessions.csrf_matches(service.browser_key, session_id, presented):
            raise Forbidden("the request lacks this session's CSRF token: send it as the X-CSRF-Token header "
                            "or the csrf_token form field (reload the page for a fresh form)",
                            {"csrf": "missing or wrong"})
    if session.stale:
        await service.db.write(sessions.touch, session, life, now=now)
    request.state.session_id = session_id
    return session.principal


def csrf_token_of(request: Request) -> str:
    """The CSRF token of the request's session (after :func:`session_principal` found one), for a page's forms."""
    session_id = getattr(request.state, "session_id", None)
    return "" if session_id is None else sessions.csrf_token(service_of(request).browser_key, session_id)


class TooLarge(OperationError):
    status = 413


async def read_bounded(request: Request, limit: int, too_large: str, what: str) -> bytes:
    """The request's body, refused (413, ``too_large``) past ``limit`` bytes whatever Content-Length says.

    Keeps the bytes as Starlette's cache, so ``request.body()``, ``.stream()`` and ``.form()`` answer them again.
    """
    if int(request.headers.get("content-length") or 0) > limit:
        raise TooLarge(too_large)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(too_large)
            chunks.append(chunk)
    except ClientDisconnect:
        raise Invalid(f"the client went away before the {what} arrived") from None
    request._body = b"".join(chunks)
    return request._body


FORM_BYTES = 64 * 1024
"""The largest form body read: a sign-in form is well under a kilobyte."""
FORM_FIELDS = 32
UPLOAD_BYTES = 4 * 1024 * 1024
"""The largest ``multipart/form-data`` body read: a console upload (a story export is at most a few hundred KiB)."""


async def read_form(request: Request) -> dict[str, str]:
    """The request's URL-encoded or multipart form fields (first value of each), read once and kept for the endpoint.

    Bounded (413 past :data:`FORM_BYTES`, or :data:`UPLOAD_BYTES` for a multipart upload); any other body is
    no form (empty). The bytes are kept as the
    request's body, so an endpoint that reads the body itself still can.
    """
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    fields: dict[str, str] = {}
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        fields = await _read_multipart(request)
    elif content_type == "application/x-www-form-urlencoded":
        raw = await read_bounded(request, FORM_BYTES, f"the form is over {FORM_BYTES // 1024} KiB", "form")
        try:
            pairs = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True,
                              max_num_fields=FORM_FIELDS)
        except ValueError:
            raise Invalid(f"the form has more than {FORM_FIELDS} fields") from None
        for name, value in pairs:
            fields.setdefault(name, value)
    request.state.form = fields
    return fields


async def _read_multipart(request: Request) -> dict[str, str]:
    """A multipart form's text fields, each uploaded file's content as text under its field's name.

    Bounded (413 past :data:`UPLOAD_BYTES`, one file); the parsed form stays on the request
    (``await request.form()`` answers it again)."""
    await read_bounded(request, UPLOAD_BYTES, f"the upload is over {UPLOAD_BYTES // 1024 // 1024} MiB", "form")
    try:
        form = await request.form(max_files=1, max_fields=FORM_FIELDS, max_part_size=UPLOAD_BYTES)
    except HTTPException as exc:
        raise Invalid(f"the form cannot be read: {exc.detail}") from None
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, value)
        else:
            content = await value.read()
            if content or name not in fields:
                fields[name] = content.decode("utf-8", errors="replace")
    return fields


def _json_error(exc: OperationError) -> Response:
    body: dict[str, Any] = {"error": exc.message, "detail": exc.detail}
    headers = {"cache-control": "no-store"}
    if isinstance(exc, TooMany):
        headers["retry-after"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["www-authenticate"] = 'Bearer realm="storyline"'
    return Response(orjson.dumps(body), status_code=exc.status, media_type="application/json", headers=headers)


def error_response(request: Request, exc: OperationError) -> Response:
    """JSON for the API and for scripts; for a browser page, the login page (401) or an explanation."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return _json_error(exc)
    if isinstance(exc, Unauthorized):
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
    response = page(exc.status, "Not allowed" if exc.status == 403 else "Cannot do that", exc.message)
    if isinstance(exc, TooMany):
        response.headers["retry-after"] = str(exc.retry_after)
    return response

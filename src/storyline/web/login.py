"""Signing in and out in a browser: ``/login``, ``/logout``, and ``/setup`` for the first admin.

The pages are public by design; what they guard is in ``storyline.accounts`` (sessions, the
throttle, the setup link). The login form carries its own CSRF token, bound to a nonce in a
short-lived cookie of its own, so another site cannot sign a browser in as someone else. After
signing in the browser goes to ``next`` when that is a path on this server, else to ``/``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from storyline.accounts import logins, sessions, setup
from storyline.accounts.passwords import MIN_LENGTH, PasswordError
from storyline.accounts.users import AccountError, verify_login
from storyline.web.access import (
    clock,
    csrf_token_of,
    guarded,
    lifetime,
    public,
    read_form,
    service_of,
    session_principal,
)
from storyline.web.templates import render_page

FORM_COOKIE = "storyline_login"
"""Holds the nonce the login form's CSRF token is bound to; only ``/login`` reads it."""
FORM_SECONDS = 3600
NEXT_LENGTH = 2000


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server (``/...``), else ``/``: never another site.

    Refused: ``//host`` and ``/\\host`` (browsers read both as another host), a scheme, control
    characters, and anything over :data:`NEXT_LENGTH` characters.
    """
    if not target or len(target) > NEXT_LENGTH or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/"
    if any(ord(char) < 0x20 or ord(char) == 0x7F or char == "\\" for char in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def client_of(request: Request) -> str:
    """The client's address (uvicorn takes ``X-Forwarded-For`` only from the proxies it trusts)."""
    return request.client.host if request.client is not None else "unknown"


def _secure(request: Request) -> bool:
    return service_of(request).settings.public_url.lower().startswith("https://")


def _set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(sessions.COOKIE, session_id, max_age=int(lifetime(service_of(request)).absolute),
                        path="/", secure=_secure(request), httponly=True, samesite="lax")


def _page(request: Request, status: int, template: str, title: str, **context: Any) -> Response:
    user = getattr(request.state, "principal", None)
    headers = context.pop("headers", None)
    return render_page(status, template, headers=headers, title=title, user=user, csrf_token=csrf_token_of(request),
                  **{"error": "", **context})


async def _login_page(request: Request, status: int, *, email: str = "", next_path: str = "/",
                      error: str = "", headers: dict[str, str] | None = None) -> Response:
    service = service_of(request)
    nonce = secrets.token_urlsafe(16)
    no_user = await service.db.read(setup.needed)
    response = _page(request, status, "login.html", "Sign in", email=email, next=next_path, error=error,
                     no_user=no_user, form_token=sessions.form_token(service.browser_key, nonce), headers=headers)
    response.set_cookie(FORM_COOKIE, nonce, max_age=FORM_SECONDS, path="/login", secure=_secure(request),
                        httponly=True, samesite="lax")
    return response


async def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await session_principal(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return await _login_page(request, 200, next_path=next_path)


async def login(request: Request) -> Response:
    service, now = service_of(request), clock(request)
    form = await read_form(request)
    email, password = form.get("email", "")[:1024], form.get("password", "")
    next_path = safe_next(form.get("next"))
    if not sessions.form_token_matches(service.browser_key, request.cookies.get(FORM_COOKIE),
                                       form.get(sessions.CSRF_FIELD)):
        return await _login_page(request, 403, email=email, next_path=next_path,
                                 error="This form has expired or did not come from this server; sign in again.")
    client = client_of(request)
    wait = await service.db.read(lambda conn: logins.retry_after(conn, email, client, now=now))
    if wait is not None:
        logins.log_failure(email, client, throttled=True)
        minutes = -(-wait // 60)
        return await _login_page(request, 429, email=email, next_path=next_path, headers={"retry-after": str(wait)},
                                 error=f"Too many failed sign-ins; try again in {minutes} minute"
                                       f"{'s' if minutes > 1 else ''}.")
    found = await service.db.read(lambda conn: verify_login(conn, email, password))
    if found is None:
        await service.db.write(logins.failed, email, client, now=now)
        logins.log_failure(email, client)
        return await _login_page(request, 401, email=email, next_path=next_path,
                                 error="Wrong e-mail address or password.")
    session_id = await service.db.write(logins.succeeded, found, client, lifetime(service), now=now)
    response = RedirectResponse(next_path, status_code=303)
    _set_session_cookie(request, response, session_id)
    response.delete_cookie(FORM_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    """End the session (its CSRF token required: another site cannot sign a browser out) and forget the cookie."""
    if await session_principal(request) is not None:
        session_id = request.cookies[sessions.COOKIE]
        await service_of(request).db.write(sessions.end, session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", secure=_secure(request), httponly=True, samesite="lax")
    return response


def _refused(request: Request, status: int, why: str) -> Response:
    return _page(request, status, "base.html", "Create the first admin", error=why)


_TAKEN = "storyline has users already, so this link no longer works: sign in at /login."


async def setup_form(request: Request) -> Response:
    service, token = service_of(request), request.query_params.get("token", "")
    problem = setup.problem(service.browser_key, token, now=clock(request))
    if problem is not None:
        return _refused(request, 403, problem)
    if not await service.db.read(setup.needed):
        return _refused(request, 410, _TAKEN)
    return _page(request, 200, "setup.html", "Create the first admin", token=token, email="", min_length=MIN_LENGTH)


async def create_admin(request: Request) -> Response:
    service, now = service_of(request), clock(request)
    form = await read_form(request)
    token, email, password = form.get("token", ""), form.get("email", "")[:1024], form.get("password", "")
    problem = setup.problem(service.browser_key, token, now=now)
    if problem is not None:
        return _refused(request, 403, problem)
    if not await service.db.read(setup.needed):
        return _refused(request, 410, _TAKEN)

    def again(why: str) -> Response:
        return _page(request, 422, "setup.html", "Create the first admin", token=token, email=email,
                     min_length=MIN_LENGTH, error=why)

    if password != form.get("confirm", ""):
        return again("The two passwords differ; type the same one twice.")
    try:
        session_id = await service.db.write(setup.create_first_admin, email, password, lifetime(service), now=now)
    except (AccountError, PasswordError) as exc:
        return again(str(exc))
    response = RedirectResponse("/", status_code=303)
    _set_session_cookie(request, response, session_id)
    return response


def routes() -> list[BaseRoute]:
    why = "signing in and out is for people who are not signed in (yet)"
    first = "the first admin's page: it needs the signed link `storyline serve` prints, and works only while no user exists"
    return [
        guarded("/login", login_form, rule=public(why)),
        guarded("/login", login, rule=public(why), methods=["POST"]),
        guarded("/logout", logout, rule=public(why), methods=["POST"]),
        guarded("/setup", setup_form, rule=public(first)),
        guarded("/setup", create_admin, rule=public(first), methods=["POST"]),
    ]

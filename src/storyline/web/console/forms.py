"""What the console's pages share: who is signed in and what they may do, their forms, notices and paging.

A state-changing form is a POST carrying the session's ``csrf_token`` (checked by the guard in
``web/access.py``); on success the page redirects back (303) with a ``done`` code, which names one
of the page's own fixed notices, so a link can never make a page say something it did not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from storyline.accounts.roles import Permission, Principal, allowed
from storyline.operations.errors import Invalid, Unauthorized
from storyline.operations.paging import MAX_ROW_ID, PageRequest, page_request
from storyline.web.access import csrf_token_of, read_form
from storyline.web.templates import render


def principal(request: Request) -> Principal:
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        raise Unauthorized("sign in to use the console")
    return found


def may(request: Request, permission: Permission) -> bool:
    found: Principal | None = getattr(request.state, "principal", None)
    return found is not None and allowed(found.role, permission)


async def form(request: Request) -> dict[str, str]:
    """The posted form (bounded by ``access.read_form``)."""
    return await read_form(request)


def field(fields: Mapping[str, str], name: str, limit: int, *, required: bool = True) -> str:
    """A form field, stripped; 422 naming it when required and empty, or longer than ``limit``."""
    value = fields.get(name, "").strip()
    if required and not value:
        raise Invalid(f"{name}: fill it in", {"field": name})
    if len(value) > limit:
        raise Invalid(f"{name}: at most {limit} characters", {"field": name})
    return value


def done(path: str, code: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'done': code})}", status_code=303)


def notice(request: Request, notices: Mapping[str, str]) -> str:
    """The fixed notice the ``done`` code names (an unknown code: none)."""
    return notices.get(request.query_params.get("done", ""), "")


def number(request: Request, name: str, *, high: int = MAX_ROW_ID) -> int | None:
    """An optional whole-number query parameter (an id); 422 naming it when it is anything else."""
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not 0 < int(text) <= high:
        raise Invalid(f"{name} must be a positive whole number", {"parameter": name})
    return int(text)


def paging(request: Request, per_page: int, shape: Any = int) -> PageRequest:
    return page_request(request.query_params.get("cursor") or None, per_page, shape)


def link(request: Request, **changes: str | None) -> str:
    """This page's path with its query changed (``None`` drops a parameter, ``done`` is always dropped)."""
    query = {key: value for key, value in request.query_params.items() if key not in changes and key != "done"}
    query.update({key: value for key, value in changes.items() if value is not None})
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def page(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """``render`` with what every console page's forms need: the principal and the session's CSRF token."""
    return render(request, template, {"principal": principal(request), "csrf_token": csrf_token_of(request),
                                      "error": "", "notice": "", **context}, status=status)

"""The HTML pages storyline serves (the index, a prompt's answer, sign-in), and the headers every answer carries.

Everything on a page is text from a fixed sentence or escaped: no markup from a
request, an event or a story reaches a page. Templates (``web/templates/``) are
Jinja2 with autoescape on. The one stylesheet is inline and allowed by its hash, so
the Content-Security-Policy can forbid everything else (scripts, frames, forms,
other origins) on every answer, HTML or not. A page of ours with a form says so
(:data:`FORM_PAGE_POLICY`): its forms may post to this server, and nowhere else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STYLE = "body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}"
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def _policy(form_action: str) -> str:
    return (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action {form_action}; "
            "frame-ancestors 'none'")


CONTENT_SECURITY_POLICY = _policy("'none'")
FORM_PAGE_POLICY = _policy("'self'")
"""Only on pages storyline renders from its templates: a webhook's answer (a story's text) keeps ``'none'``."""
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Prompt URLs carry their signature: a page must not hand them on to another site.
    (b"referrer-policy", b"no-referrer"),
)


def page(status: int, title: str, *paragraphs: str) -> Response:
    """A page of plain-text paragraphs (escaped here), never cached: it answers one request."""
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)
    document = (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers={"cache-control": "no-store"})


@functools.cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("storyline.web", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    environment.globals["style"] = Markup(STYLE)  # a constant of ours, allowed by its hash
    return environment


def render(status: int, template: str, *, headers: dict[str, str] | None = None, **context: Any) -> Response:
    """A page from ``web/templates/`` (every value escaped), never cached, its forms allowed to post here only."""
    document = _templates().get_template(template).render(**context)
    return HTMLResponse(document, status_code=status, headers={
        "cache-control": "no-store", "content-security-policy": FORM_PAGE_POLICY, **(headers or {})})


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every answer, unless the answer set that header itself.

    A webhook's ``response_headers`` (chosen by the story's author) win over these.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in SECURITY_HEADERS if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

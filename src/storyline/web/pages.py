"""The HTML pages storyline serves (the index, a prompt's answer, sign-in), and the headers every answer carries.

Everything on a page is text from a fixed sentence or escaped: no markup from a
request, an event or a story reaches a page. Templates (``web/templates/``, drawn by
``storyline.web.templates``) are Jinja2 with autoescape on. The one stylesheet of the plain pages is
inline and allowed by its hash, so the Content-Security-Policy can forbid everything else (scripts,
frames, forms, other origins) on every answer, HTML or not. A plain page of ours with a form says so
(:data:`FORM_PAGE_POLICY`): its forms may post to this server, and nowhere else. The console's pages
loosen it to their own files only (:data:`CONSOLE_CONTENT_SECURITY_POLICY`).
"""

from __future__ import annotations

import base64
import hashlib
import html

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
CONSOLE_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The console's pages: their own stylesheet and script files, nothing inline, nothing from elsewhere.

Only the console's HTML pages carry it (``storyline.web.templates``); every other answer keeps
:data:`CONTENT_SECURITY_POLICY`."""
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

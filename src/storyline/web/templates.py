"""The console's pages: Jinja2 templates (``web/templates/``) and its own files (``web/static/``).

Every template is autoescaped, whatever its name: event data, message text and story names
are hostile and only ever reach a page as escaped text. A console page carries
:data:`~storyline.web.pages.CONSOLE_CONTENT_SECURITY_POLICY`: scripts and styles from
``/static/`` only, no inline script, no other origin, no framing. The static files are
vendored in the package (no CDN, works offline) and served to anyone: they hold nothing stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from storyline.web.pages import CONSOLE_CONTENT_SECURITY_POLICY, FORM_PAGE_POLICY, STYLE

HERE = Path(__file__).parent
STATIC_PATH = "/static"

NAVIGATION: tuple[tuple[str, str], ...] = (
    ("Stories", "/stories"), ("Runs", "/runs"), ("Events", "/events"), ("Credentials", "/credentials"),
    ("Resources", "/resources"), ("Packs", "/packs"), ("Audit", "/audit"), ("Users", "/users"),
    ("Tokens", "/tokens"), ("Playground", "/playground"),
)
"""The console's pages, in the order the navigation shows them."""

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)
environment.globals["style"] = Markup(STYLE)  # the plain pages' one stylesheet, a constant allowed by its hash
templates = Jinja2Templates(env=environment)


def render_page(status: int, template: str, *, headers: dict[str, str] | None = None, **context: Any) -> Response:
    """A plain page (sign-in, setup, the index): every value escaped, never cached, its forms allowed to post
    here only (:data:`~storyline.web.pages.FORM_PAGE_POLICY`)."""
    document = environment.get_template(template).render(**context)
    return HTMLResponse(document, status_code=status, headers={
        "cache-control": "no-store", "content-security-policy": FORM_PAGE_POLICY, **(headers or {})})


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """The page ``name`` drawn with ``context``, with the console's headers; never cached (it shows live data)."""
    return templates.TemplateResponse(
        request, name, {"navigation": NAVIGATION, "here": request.url.path, "static": STATIC_PATH, **context},
        status_code=status,
        headers={"content-security-policy": CONSOLE_CONTENT_SECURITY_POLICY, "cache-control": "no-store"},
    )


def fragment(name: str, context: dict[str, Any]) -> str:
    """Part of a page (what the console's script swaps in), drawn by the same templates."""
    return environment.get_template(name).render(context)


def static_files() -> Mount:
    """``/static/``: the console's CSS and JS, revalidated on each use (ETag) so an upgrade shows at once."""
    return Mount(STATIC_PATH, app=StaticFiles(directory=HERE / "static"), name="static")

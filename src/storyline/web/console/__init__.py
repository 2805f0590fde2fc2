"""The web console: server-rendered pages (``web/templates/console/``) with their own CSS and JS.

This slice has its foundation (the layout, the navigation, the static files, the pages' CSP in
``storyline.web.templates``) and the chat playground; each page is a route built with
:func:`storyline.web.access.guarded`, so the authorization matrix test covers it.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from storyline.accounts.roles import Permission
from storyline.engine.service import Service
from storyline.standins.outbox import Outbox
from storyline.web.access import guarded, needs, open_to_anyone, public
from storyline.web.console.playground import Pages, Playground
from storyline.web.templates import static_files


def routes(service: Service, outbox: Outbox | None) -> list[BaseRoute]:
    """The console's routes; the playground is public only beside the demo's sandbox (``outbox``)."""
    pages = Pages(Playground(service, outbox) if outbox is not None else None)
    rule = (public("the demo's chat playground: it talks to the demo's own stand-ins only (serve --demo)")
            if outbox is not None else needs(Permission.STORIES_WRITE))
    return [
        *open_to_anyone([static_files()], "the console's own CSS and JS, nothing stored"),
        guarded("/playground", pages.page, rule=rule, name="playground"),
        guarded("/playground/{platform}/transcript", pages.transcript, rule=rule, name="playground_transcript"),
        guarded("/playground/{platform}/say", pages.say, rule=rule, methods=["POST"], name="playground_say"),
        guarded("/playground/{platform}/click", pages.click, rule=rule, methods=["POST"], name="playground_click"),
    ]

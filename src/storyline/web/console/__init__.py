"""The web console: server-rendered pages (``web/templates/console/``) with their own CSS and JS.

The layout, the navigation, the static files and the pages' CSP are in ``storyline.web.templates``;
each page group has its module (playground, stories and their graph, runs, events, admin). Every page
is a route built with :func:`storyline.web.access.guarded`, so the authorization matrix test covers it.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from storyline.accounts.roles import Permission
from storyline.engine.service import Service
from storyline.standins.outbox import Outbox
from storyline.web.access import guarded, needs, open_to_anyone, public
from storyline.web.console.admin import AdminPages
from storyline.web.console.events import EventPages
from storyline.web.console.playground import Pages, Playground
from storyline.web.console.runs import RunPages
from storyline.web.console.stories import StoryPages
from storyline.web.templates import static_files

POST = ["POST"]


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
        *story_routes(StoryPages(service)),
        *run_routes(service),
        *admin_routes(service),
    ]


def story_routes(pages: StoryPages) -> list[BaseRoute]:
    read, write = needs(Permission.STORIES_READ), needs(Permission.STORIES_WRITE)
    action = "/stories/{id:int}/actions/{action:int}"
    return [
        guarded("/stories", pages.listing, rule=read, name="stories"),
        guarded("/stories/import", pages.import_story, rule=write, methods=["POST"], name="stories_import"),
        guarded("/stories/{id:int}", pages.story, rule=read, name="story"),
        guarded("/stories/{id:int}/export", pages.export, rule=needs(Permission.WEBHOOK_SECRETS_READ),
                name="story_export"),
        guarded("/stories/{id:int}/live", pages.live, rule=read, name="story_live"),
        guarded(action, pages.edit, rule=write, methods=["POST"], name="story_action_edit"),
        guarded(f"{action}/switch", pages.switch, rule=write, methods=["POST"], name="story_action_switch"),
        guarded(f"{action}/recent", pages.recent, rule=needs(Permission.EVENTS_READ), name="story_action_recent"),
    ]


def run_routes(service: Service) -> list[BaseRoute]:
    """``/runs``, ``/runs/{guid}`` and ``/events`` (``web/console/runs.py``, ``events.py``)."""
    runs, events = RunPages(service), EventPages(service)
    return [
        guarded("/runs", runs.list, rule=needs(Permission.RUNS_READ), name="runs"),
        guarded("/runs/stream", runs.stream, rule=needs(Permission.RUNS_READ), name="runs_stream"),
        guarded("/runs/{guid}", runs.run, rule=needs(Permission.RUNS_READ), name="run"),
        guarded("/events", events.search, rule=needs(Permission.EVENTS_READ), name="events"),
        guarded("/events/{id:int}/reemit", events.reemit, rule=needs(Permission.EVENTS_REEMIT), methods=["POST"],
                name="event_reemit"),
    ]


def admin_routes(service: Service) -> list[BaseRoute]:
    """The credentials, resources, packs, audit, users and tokens pages (``web/console/admin.py``)."""
    admin = AdminPages(service)
    return [
        guarded("/credentials", admin.credentials, rule=needs(Permission.CREDENTIALS_READ)),
        guarded("/credentials", admin.set_credential, rule=needs(Permission.CREDENTIALS_WRITE), methods=POST),
        guarded("/credentials/{id:int}/delete", admin.delete_credential, rule=needs(Permission.CREDENTIALS_WRITE),
                methods=POST),
        guarded("/resources", admin.resources, rule=needs(Permission.RESOURCES_READ)),
        guarded("/resources", admin.create_resource, rule=needs(Permission.RESOURCES_WRITE), methods=POST),
        guarded("/resources/{id:int}", admin.replace_resource, rule=needs(Permission.RESOURCES_WRITE), methods=POST),
        guarded("/resources/{id:int}/delete", admin.delete_resource, rule=needs(Permission.RESOURCES_WRITE), methods=POST),
        guarded("/packs", admin.packs, rule=needs(Permission.STORIES_READ)),
        guarded("/packs/{name}/install", admin.install_pack, rule=needs(Permission.PACKS_INSTALL), methods=POST),
        guarded("/audit", admin.audit, rule=needs(Permission.AUDIT_READ)),
        guarded("/users", admin.users, rule=needs(Permission.USERS_MANAGE)),
        guarded("/users", admin.add_user, rule=needs(Permission.USERS_MANAGE), methods=POST),
        guarded("/users/{id:int}", admin.change_user, rule=needs(Permission.USERS_MANAGE), methods=POST),
        guarded("/users/{id:int}/delete", admin.remove_user, rule=needs(Permission.USERS_MANAGE), methods=POST),
        guarded("/tokens", admin.tokens, rule=needs(Permission.TOKENS_MANAGE)),
        guarded("/tokens", admin.create_token, rule=needs(Permission.TOKENS_MANAGE), methods=POST),
        guarded("/tokens/{name}/revoke", admin.revoke_token, rule=needs(Permission.TOKENS_MANAGE), methods=POST),
    ]

"""``/events``: search events by story, action, time and text; and re-emit one (editors).

With millions of events kept, the story, action and time filters use their indexes, and a text
search reads at most ``store.event_search.SCAN`` events per page (the newest the other filters
allow): when that runs out before a page is full, the page says how far it searched and "Search
older" goes on from there. Narrow by story or time for fewer, faster pages. Times are UTC.
"""

from __future__ import annotations

import datetime as dt
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from storyline.accounts.roles import Permission
from storyline.engine.service import Service
from storyline.operations import actions, runs
from storyline.operations.errors import Invalid
from storyline.operations.paging import page_request
from storyline.store.event_search import SCAN, Search
from storyline.web.console import forms
from storyline.web.console.jsontree import tree
from storyline.web.console.runs import stories_for

EVENTS_PER_PAGE = 20
MAX_TEXT = 200
ACTIONS_OFFERED = 500


def _time(request: Request, name: str) -> float | None:
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text[:32])
    except ValueError:
        raise Invalid(f"{name}: a date and time such as 2030-01-31T13:45 (UTC)", {"parameter": name}) from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


class EventPages:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def search(self, request: Request) -> Response:
        who = forms.principal(request)
        text = request.query_params.get("text", "").strip()
        if len(text) > MAX_TEXT:
            raise Invalid(f"text: at most {MAX_TEXT} characters", {"parameter": "text"})
        story_id = forms.number(request, "story")
        search = Search(story_id=story_id, action_id=forms.number(request, "action"),
                        since=_time(request, "since"), until=_time(request, "until"), text=text)
        page = await self.service.db.read(runs.search_events, who, forms.paging(request, EVENTS_PER_PAGE), search)
        story_actions = []
        if story_id is not None:
            listed = await self.service.db.read(actions.list_actions, who, page_request(None, ACTIONS_OFFERED),
                                                story_id)
            story_actions = listed.items
        return forms.page(request, "console/events.html", {
            "title": "Events", "events": [{**event, "tree": tree(event["payload"])} for event in page.items],
            "stories": await stories_for(self.service, request), "actions": story_actions,
            "query": {name: request.query_params.get(name, "") for name in ("story", "action", "since", "until",
                                                                              "text")},
            "cut_short": page.extra.get("cut_short", False), "scan": SCAN,
            "next": forms.link(request, cursor=page.next_cursor) if page.next_cursor else "",
            "first": forms.link(request, cursor=None) if request.query_params.get("cursor") else "",
            "reemit": forms.may(request, Permission.EVENTS_REEMIT),
        })

    async def reemit(self, request: Request) -> Response:
        catalog = await self.service.catalogs.get()
        answer = await self.service.db.write(runs.reemit_event, forms.principal(request), catalog,
                                             int(request.path_params["id"]), time.time())
        return RedirectResponse(f"/runs/{answer['story_run_guid']}?done=reemitted", status_code=303)

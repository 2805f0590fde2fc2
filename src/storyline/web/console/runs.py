"""``/runs`` (every story run, newest first, live) and ``/runs/{guid}`` (a run's events as a timeline).

The list updates itself over server-sent events: ``/runs/stream`` polls the store once a second
with one index lookup (the newest run's id) and reads rows only when a run started, or when a run
the page shows as running may have ended. Each stream lives at most :data:`STREAM_SECONDS`, then
says ``end`` and the page opens a fresh one, so a forgotten tab holds no connection for ever and a
restarted server is found again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from storyline.accounts.roles import Permission
from storyline.engine.service import Service
from storyline.operations import runs, stories
from storyline.operations.errors import Invalid, NotFound
from storyline.operations.paging import MAX_ID, page_request
from storyline.web.console import forms
from storyline.web.console.jsontree import tree
from storyline.web.templates import fragment

RUNS_PER_PAGE = 50
EVENTS_PER_PAGE = 50
STREAM_SECONDS = 120
"""The longest a stream stays open; the page opens the next one."""
TICK_SECONDS = 1.0
WATCHED = 50
"""Running runs a stream follows at most (the first page's)."""
GUID_LENGTH = 36
STORIES_OFFERED = 500
NOTICES = {"reemitted": "Re-emitted: this is the new run."}


def _ids(text: str, name: str) -> list[int]:
    """Run ids separated by commas (the first :data:`WATCHED`); 422 naming ``name`` for anything else."""
    parts = [part for part in text.split(",") if part][:WATCHED]
    if not all(part.isascii() and part.isdigit() and len(part) <= 19 for part in parts):
        raise Invalid(f"{name}: run ids separated by commas", {"parameter": name})
    return [int(part) for part in parts if int(part) <= MAX_ID]


def _event_stream(name: str, data: str, ident: int | None = None) -> bytes:
    lines = [f"event: {name}"] + ([f"id: {ident}"] if ident is not None else [])
    lines += [f"data: {line}" for line in (data.splitlines() or [""])]
    return ("\n".join(lines) + "\n\n").encode()


class RunPages:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def _stories(self, request: Request) -> list[dict[str, Any]]:
        return await stories_for(self.service, request)

    async def list(self, request: Request) -> Response:
        story_id = forms.number(request, "story")
        page = await self.service.db.read(runs.list_runs, forms.principal(request),
                                          forms.paging(request, RUNS_PER_PAGE), story_id)
        first = not request.query_params.get("cursor")
        return forms.page(request, "console/runs.html", {
            "title": "Runs", "runs": page.items, "story_id": story_id, "stories": await self._stories(request),
            "live": first, "newest": max((run["id"] for run in page.items), default=0),
            "watch": ",".join(str(run["id"]) for run in page.items if run["status"] == "running"),
            "next": forms.link(request, cursor=page.next_cursor) if page.next_cursor else "",
            "first": forms.link(request, cursor=None) if not first else "",
        })

    async def stream(self, request: Request) -> Response:
        """New and changed rows of ``/runs`` as server-sent events (``runs``: rows to put in; ``end``)."""
        if "text/event-stream" not in request.headers.get("accept", ""):
            return Response("this is the live feed of /runs: open it as an EventSource (Accept: text/event-stream)\n",
                            status_code=406, media_type="text/plain")
        who = forms.principal(request)
        # The newest run the page has: the query's, or the last event's id when the browser reconnects.
        after = max([0, *_ids(request.headers.get("last-event-id") or request.query_params.get("after", ""), "after")])
        story_id = forms.number(request, "story")
        watched = _ids(request.query_params.get("watch", ""), "watch")
        seconds = forms.number(request, "seconds", high=STREAM_SECONDS) or STREAM_SECONDS

        async def events() -> AsyncIterator[bytes]:
            nonlocal after, watched
            ends = time.monotonic() + seconds
            yield f"retry: {int(TICK_SECONDS * 2000)}\n\n".encode()
            shown: dict[int, tuple[Any, ...]] = {}
            while time.monotonic() < ends and not await request.is_disconnected():
                newest = await self.service.db.read(runs.newest_run_id, who)
                if newest > after or watched:
                    new, now = await self.service.db.read(runs.runs_since, who, after, watched, RUNS_PER_PAGE,
                                                          story_id)
                    changed = []
                    for run in [*new, *now]:
                        state = (run["status"], run["event_count"], run["failed_jobs_count"], run["end_time"])
                        if shown.get(run["id"]) != state:
                            shown[run["id"]] = state
                            changed.append(run)
                    after = max([after, *(run["id"] for run in new)])
                    watched = [run["id"] for run in [*new, *now] if run["status"] == "running"][:WATCHED]
                    if changed:
                        rows = fragment("console/_run_rows.html", {"runs": changed})
                        yield _event_stream("runs", rows, after)
                await asyncio.sleep(TICK_SECONDS)
            yield _event_stream("end", "")

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def run(self, request: Request) -> Response:
        guid = str(request.path_params["guid"])
        if len(guid) > GUID_LENGTH:
            raise NotFound(f"no story run {guid[:GUID_LENGTH]!r}…: /runs lists them")
        who = forms.principal(request)
        found = await self.service.db.read(runs.get_run, who, guid)
        page = await self.service.db.read(runs.run_timeline, who, guid, forms.paging(request, EVENTS_PER_PAGE))
        failed: dict[int, list[dict[str, Any]]] = {}
        for job in found["failed_jobs"]:
            failed.setdefault(job["event_id"], []).append(job)
        events = [{**event, "tree": tree(event["payload"]), "failures": failed.get(event["id"], [])}
                  for event in page.items]
        return forms.page(request, "console/run.html", {
            "title": f"Run of {found['story_name']}", "run": found, "events": events,
            "reemit": forms.may(request, Permission.EVENTS_REEMIT), "notice": forms.notice(request, NOTICES),
            "next": forms.link(request, cursor=page.next_cursor) if page.next_cursor else "",
            "first": forms.link(request, cursor=None) if request.query_params.get("cursor") else "",
        })


async def stories_for(service: Service, request: Request) -> list[dict[str, Any]]:
    """The stories a filter offers (the first :data:`STORIES_OFFERED` by id)."""
    page = await service.db.read(stories.list_stories, forms.principal(request),
                                 page_request(None, STORIES_OFFERED))
    return page.items

"""``/stories`` and ``/stories/{id}``: the stories with their last day, import and export, and each story's graph.

Import is two steps, as ``tines check`` then ``story import`` are at the command line: the
upload (a file or pasted JSON) is checked and the report shown, and only the confirming form
(which carries the export again) writes. Selecting an action is a link (``?action=``), so
the panel works without script; its editor posts the options as ``PUT /api/v1/actions/{id}``
does (``operations.actions.update_action``: checked as an import, audited) and shows a 422
beside the text the user typed. Times are the engine's (``time.time()``, as events are written),
not the app's session clock. Counts stay live through ``/stories/{id}/live``: server-sent
events while the page is open, one cheap look at the store a second, for a bounded time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from storyline import jsondata
from storyline.accounts.roles import Permission, Principal, allowed
from storyline.engine.service import Service
from storyline.operations import actions as action_ops
from storyline.operations import stories as story_ops
from storyline.operations import storyboard
from storyline.operations.errors import Conflict, Invalid, NotFound, OperationError
from storyline.operations.paging import MAX_ROW_ID, page_request
from storyline.operations.runs import EventFilter, list_events
from storyline.operations.stories import ImportMode
from storyline.tines.check import check_data
from storyline.web.access import csrf_token_of, read_form
from storyline.web.console.graph import draw, type_label
from storyline.web.templates import fragment, render

SEARCH_CHARS = 200
RECENT_EVENTS = 10
RECENT_LOGS = 20
PAYLOAD_CHARS = 4000
"""Characters of an event's payload shown in the panel (the run's page shows it whole)."""
LIVE_SECONDS = 60.0
"""How long one live stream lasts; the browser's EventSource then connects again (and is authenticated again)."""
LIVE_POLL = 1.0
KEEPALIVE = 15.0
IMPORT_SOURCE = "the console"
MODES = {"new": "a new story", "versionReplace": "replace the story with the same guid, in place",
         "copy": "a copy beside it, with fresh guids and webhook paths"}


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _id(request: Request, name: str) -> int:
    value = int(request.path_params[name])
    if not 0 < value <= MAX_ROW_ID:
        raise NotFound(f"no {name} with id {value}")
    return value


def _pretty(value: Any, limit: int | None = None) -> str:
    text = jsondata.dumps(value, indent=True)
    return text if limit is None or len(text) <= limit else text[:limit] + "\n\u2026 (cut; the run's page shows it whole)"


class StoryPages:
    def __init__(self, service: Service) -> None:
        self.service = service

    # -- /stories --------------------------------------------------------------------------------

    async def listing(self, request: Request, *, status: int = 200, problem: str = "") -> Response:
        principal = _principal(request)
        search = request.query_params.get("q", "")[:SEARCH_CHARS]
        found = await self.service.db.read(storyboard.overview, principal, search, time.time())
        return render(request, "console/stories.html", {
            "title": "Stories", "listing": found, "search": search, "problem": problem,
            "can_write": allowed(principal.role, Permission.STORIES_WRITE),
            "can_export": allowed(principal.role, Permission.WEBHOOK_SECRETS_READ),
            "csrf_token": csrf_token_of(request), "modes": MODES,
        }, status=status)

    async def import_story(self, request: Request) -> Response:
        """Check an upload and show the report; write it only when the confirming form says so."""
        principal = _principal(request)
        form = await read_form(request)
        text = form.get("file", "").strip() or form.get("pasted", "").strip()
        mode: ImportMode = cast(ImportMode, form.get("mode")) if form.get("mode") in MODES else "new"
        if not text:
            return await self.listing(request, status=422, problem="Choose an export file or paste one.")
        context: dict[str, Any] = {"title": "Import a story", "text": text, "mode": mode, "modes": MODES,
                                   "csrf_token": csrf_token_of(request), "reports": [], "problems": [],
                                   "warnings": [], "clashes": [], "story": None, "error": ""}
        try:
            data = jsondata.loads(text)
        except jsondata.JsonError as exc:
            context["error"] = f"This is not JSON: {exc}"
            return render(request, "console/story_import.html", context, status=422)
        context["reports"] = await asyncio.to_thread(check_data, data, IMPORT_SOURCE)
        try:
            prepared = await asyncio.to_thread(story_ops.prepare_import, principal, data, mode=mode,
                                               source=IMPORT_SOURCE)
        except Invalid as exc:
            context["error"] = exc.message
            context["problems"] = exc.detail if isinstance(exc.detail, list) else []
            return render(request, "console/story_import.html", context, status=422)
        context["story"] = prepared.story
        context["warnings"] = prepared.warnings
        context["clashes"] = await self.service.db.read(storyboard.imported_as, principal, prepared.story.guid)
        if form.get("confirm") == "yes":
            try:
                imported = await self.service.db.write(story_ops.save_import, principal, prepared,
                                                       now=time.time())
            except Conflict as exc:
                context["error"] = exc.message
                return render(request, "console/story_import.html", context, status=409)
            await self.service.catalogs.get(force=True)
            return RedirectResponse(f"/stories/{imported.story_id}?imported=1", status_code=303)
        return render(request, "console/story_import.html", context)

    async def export(self, request: Request) -> Response:
        story_id = _id(request, "id")
        exported = await self.service.db.read(story_ops.export, _principal(request), story_id)
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(exported.get("name") or "")).strip("-.")[:80] or "story"
        return Response(jsondata.dumpb(exported, indent=True), media_type="application/json", headers={
            "content-disposition": f'attachment; filename="{name}.json"', "cache-control": "no-store"})

    # -- /stories/{id} ---------------------------------------------------------------------------

    async def story(self, request: Request, *, status: int = 200, edit: dict[str, Any] | None = None) -> Response:
        principal, story_id = _principal(request), _id(request, "id")
        board = await self.service.db.read(storyboard.board, principal, story_id, time.time())
        chosen = request.query_params.get("action", "")
        selected = next((a for a in board.actions if chosen.isdigit() and a.id == int(chosen)), None)
        if edit is not None:
            selected = next((a for a in board.actions if a.id == edit["action_id"]), selected)
        panel = await self._panel(request, story_id, selected.id, edit) if selected is not None else None
        return render(request, "console/story.html", {
            "title": board.name, "board": board, "graph": draw(board), "panel": panel,
            "selected": selected.id if selected is not None else None,
            "imported": request.query_params.get("imported") == "1",
            "can_export": allowed(principal.role, Permission.WEBHOOK_SECRETS_READ),
        }, status=status)

    async def _panel(self, request: Request, story_id: int, action_id: int,
                     edit: dict[str, Any] | None) -> dict[str, Any]:
        principal = _principal(request)
        action = await self.service.db.read(action_ops.get_action, principal, action_id)
        url = None
        if action["type"] == "Agents::WebhookAgent" and allowed(principal.role, Permission.WEBHOOK_SECRETS_READ):
            shown = await self.service.db.read(story_ops.get_story, principal, story_id,
                                               self.service.settings.public_url)
            url = next((hook.get("url") for hook in shown["webhooks"] if hook["action_id"] == action_id), None)
        return {
            "action": action, "kind": type_label(action["type"]), "webhook_url": url,
            "options": _pretty(action["options"]),
            "draft": edit["draft"] if edit is not None else _pretty(action["options"]),
            "errors": edit["errors"] if edit is not None else [],
            "saved": request.query_params.get("saved") == "1",
            "can_write": allowed(principal.role, Permission.STORIES_WRITE),
            "csrf_token": csrf_token_of(request),
            **await self._recent(principal, story_id, action_id),
        }

    async def _recent(self, principal: Principal, story_id: int, action_id: int) -> dict[str, Any]:
        events = await self.service.db.read(list_events, principal, page_request(None, RECENT_EVENTS),
                                            EventFilter(story_id=story_id, action_id=action_id))
        logs = await self.service.db.read(storyboard.action_logs, principal, action_id, RECENT_LOGS)
        return {"story_id": story_id, "action_id": action_id, "logs": logs,
                "events": [{**event, "shown": _pretty(event["payload"], PAYLOAD_CHARS)} for event in events.items]}

    async def _action_of(self, request: Request) -> tuple[int, int]:
        """The story and action of the path; 404 when the action is another story's."""
        story_id, action_id = _id(request, "id"), _id(request, "action")
        action = await self.service.db.read(action_ops.get_action, _principal(request), action_id)
        if action["story_id"] != story_id:
            raise NotFound(f"story {story_id} has no action {action_id}")
        return story_id, action_id

    async def recent(self, request: Request) -> Response:
        story_id, action_id = await self._action_of(request)
        context = await self._recent(_principal(request), story_id, action_id)
        return HTMLResponse(fragment("console/_action_recent.html", context), headers={"cache-control": "no-store"})

    async def edit(self, request: Request) -> Response:
        """Save an action's options (checked as an import; 422 shown beside what was typed)."""
        story_id, action_id = await self._action_of(request)
        form = await read_form(request)
        draft = form.get("options", "")
        errors: list[dict[str, Any]] = []
        try:
            options = jsondata.loads(draft)
        except jsondata.JsonError as exc:
            errors = [{"message": f"the options are not JSON: {exc}", "option": None}]
        else:
            if not isinstance(options, dict):
                errors = [{"message": "the options must be a JSON object ({...})", "option": None}]
        if not errors:
            try:
                await self.service.db.write(action_ops.update_action, _principal(request), action_id,
                                            {"options": options}, now=time.time())
            except (Invalid, Conflict) as exc:
                errors = exc.detail if isinstance(exc.detail, list) and exc.detail else [
                    {"message": exc.message, "option": (exc.detail or {}).get("parameter")
                     if isinstance(exc.detail, dict) else None}]
                status = exc.status
            else:
                await self.service.catalogs.get(force=True)
                return RedirectResponse(f"/stories/{story_id}?{urlencode({'action': action_id, 'saved': 1})}#panel",
                                        status_code=303)
        else:
            status = 422
        return await self.story(request, status=status, edit={"action_id": action_id, "draft": draft,
                                                               "errors": errors})

    async def switch(self, request: Request) -> Response:
        """Enable or disable an action (audited as any edit)."""
        story_id, action_id = await self._action_of(request)
        form = await read_form(request)
        await self.service.db.write(action_ops.update_action, _principal(request), action_id,
                                    {"disabled": form.get("disabled") == "1"}, now=time.time())
        await self.service.catalogs.get(force=True)
        return RedirectResponse(f"/stories/{story_id}?{urlencode({'action': action_id})}#panel", status_code=303)

    # -- live counts -----------------------------------------------------------------------------

    async def _pulse(self, request: Request, story_id: int, version: str) -> dict[str, Any]:
        numbers = await self.service.db.read(storyboard.pulse, _principal(request), story_id, time.time())
        return {"version": version,
                "actions": {str(key): {"events": events, "failed": failed} for key, (events, failed) in numbers.items()}}

    async def live(self, request: Request) -> Response:
        """Server-sent events (``pulse``: every action's numbers) when they change; a script that does not ask
        for ``text/event-stream`` gets the numbers once, as JSON."""
        principal, story_id = _principal(request), _id(request, "id")
        version = await self.service.db.read(storyboard.version, principal, story_id)
        if "text/event-stream" not in request.headers.get("accept", ""):
            return JSONResponse(await self._pulse(request, story_id, version), headers={"cache-control": "no-store"})
        return StreamingResponse(self._stream(request, story_id), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def _stream(self, request: Request, story_id: int) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        started = last_sent = loop.time()
        seen = ""
        yield b"retry: 2000\n\n"
        while loop.time() - started < LIVE_SECONDS and not await request.is_disconnected():
            try:
                version = await self.service.db.read(storyboard.version, _principal(request), story_id)
                if version != seen:
                    pulse = await self._pulse(request, story_id, version)
                    yield b"event: pulse\ndata: " + orjson.dumps(pulse) + b"\n\n"
                    seen, last_sent = version, loop.time()
                elif loop.time() - last_sent > KEEPALIVE:
                    yield b": still here\n\n"
                    last_sent = loop.time()
            except OperationError:
                return  # the story was deleted: the browser's next connection hears 404
            await asyncio.sleep(LIVE_POLL)

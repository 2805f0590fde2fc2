"""``/api/v1/events``, ``/api/v1/story_runs`` and ``/api/v1/logs``: what stories did, and re-emit."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pydantic import Field

from storyline.accounts.roles import Permission
from storyline.operations import runs
from storyline.operations.paging import MAX_ID, MAX_ROW_ID, page_request
from storyline.web.api.endpoint import Call, Endpoint
from storyline.web.api.stories import PageQuery

RUN_GUID = r"^[0-9A-Fa-f-]{1,36}$"


class EventsQuery(PageQuery):
    """Filters combine (all must hold); newest first."""

    story_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="Only this story's events")
    action_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="Only events this action emitted")
    story_run_guid: str | None = Field(default=None, pattern=RUN_GUID, description="Only this story run's events")
    since: dt.datetime | None = Field(default=None, description="Only events created after this time (ISO 8601; "
                                                                "UTC when it names no zone)")
    since_id: int | None = Field(default=None, ge=0, le=MAX_ID, description="Only events with a greater id")


class RunsQuery(PageQuery):
    story_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="Only this story's runs")


class LogsQuery(PageQuery):
    story_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="Only this story's action logs")
    level: str | None = Field(default=None, max_length=32, description="info, warning or error")


def _epoch(moment: dt.datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


async def list_events(call: Call) -> Any:
    q = call.query
    page = page_request(q.cursor, q.per_page)
    where = runs.EventFilter(q.story_id, q.action_id, q.story_run_guid, _epoch(q.since), q.since_id)
    return await call.service.db.read(runs.list_events, call.principal, page, where)


async def get_event(call: Call) -> Any:
    return await call.service.db.read(runs.get_event, call.principal, call.path["id"])


async def reemit_event(call: Call) -> Any:
    catalog = await call.service.catalogs.get()
    answer = await call.service.db.write(runs.reemit_event, call.principal, catalog, call.path["id"], time.time())
    call.service.wake()
    return answer


async def list_runs(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(runs.list_runs, call.principal, page, call.query.story_id)


async def get_run(call: Call) -> Any:
    return await call.service.db.read(runs.get_run, call.principal, call.path["guid"])


async def list_logs(call: Call) -> Any:
    page = page_request(call.query.cursor, call.query.per_page)
    return await call.service.db.read(runs.list_logs, call.principal, page, call.query.story_id, call.query.level)


ENDPOINTS = [
    Endpoint("GET", "/events", Permission.EVENTS_READ, list_events, "List events, newest first", query=EventsQuery,
             collection="events",
             tines="GET /api/v1/events (story_id, since, since_id as Tines; action_id and story_run_guid added; "
                   "cursor instead of page numbers; no until, until_id, team_id, include_groups)"),
    Endpoint("GET", "/events/{id:int}", Permission.EVENTS_READ, get_event, "Get an event as actions see it",
             tines="GET /api/v1/events/{event_id}"),
    Endpoint("POST", "/events/{id:int}/reemit", Permission.EVENTS_REEMIT, reemit_event,
             "Re-emit an event: its receivers run it again in a new story run", status=201,
             tines="POST /api/v1/events/{event_id}/reemit (answers 201 naming the new event and run, not 204)"),
    Endpoint("GET", "/story_runs", Permission.RUNS_READ, list_runs, "List story runs, newest first", query=RunsQuery,
             collection="story_runs",
             tines="GET /api/v1/stories/{story_id}/runs (here story_id is an optional filter; cursor paging)"),
    Endpoint("GET", "/story_runs/{guid}", Permission.RUNS_READ, get_run,
             "Get a story run with its events in order and its failed jobs",
             tines="GET /api/v1/stories/{story_id}/runs/{story_run_guid} (the run's fields and its events in one "
                   "answer, not paged; failed_jobs added)"),
    Endpoint("GET", "/logs", Permission.LOGS_READ, list_logs, "List action logs, newest first", query=LogsQuery,
             collection="logs",
             tines="GET /api/v1/actions/{action_id}/logs is per action in Tines; here one list, by story and level"),
]

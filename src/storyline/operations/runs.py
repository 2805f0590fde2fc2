"""What stories did, as the API and the console show it: events, story runs and action logs; and re-emit.

Lists are newest first and keyset-paged by id (``operations.paging``) on the indexes of migration
0006. Field names are Tines' (https://www.tines.com/api/events/get, .../story-runs/list-runs) where a
field has a Tines twin. Payloads are what the events hold: credential values were redacted before
they were written (``Runtime.redact``), so nothing here needs to hide anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from storyline.accounts import audit
from storyline.accounts.roles import Permission, Principal
from storyline.engine import queue
from storyline.engine.catalog import Catalog
from storyline.operations.access import require
from storyline.operations.errors import Conflict, Invalid, NotFound
from storyline.operations.paging import MAX_ID, Page, PageRequest, encode_cursor, paginate
from storyline.store import event_search, queries
from storyline.store import events as event_store
from storyline.store.queries import LOG_LEVELS, iso
from storyline.store.stories import story_page

RUN_EVENTS_SHOWN = 1000
"""Events listed in one story run's answer; a run with more says so (``/events?story_run_guid=`` pages them all)."""


@dataclass(frozen=True)
class EventFilter:
    story_id: int | None = None
    action_id: int | None = None
    story_run: str | None = None
    since: float | None = None
    """Epoch seconds: events created after it."""
    since_id: int | None = None


def _previous(parent_id: int | None) -> list[int]:
    return [] if parent_id is None else [parent_id]


def _event(row: dict[str, Any]) -> dict[str, Any]:
    created = iso(row["created_at"])
    return {"id": row["id"], "agent_id": row["action_id"], "action_id": row["action_id"],
            "action_name": row["action"], "story_id": row["story_id"], "story_run_guid": row["story_run"],
            "payload": row["payload"], "previous_event_ids": _previous(row["parent_id"]),
            "created_at": created, "updated_at": created}


def list_events(conn: Connection, principal: Principal | None, page: PageRequest, where: EventFilter) -> Page:
    require(principal, Permission.EVENTS_READ)
    rows = queries.event_rows(conn, story_id=where.story_id, action_id=where.action_id, story_run=where.story_run,
                              since=where.since, since_id=where.since_id, before_id=page.after,
                              limit=page.per_page + 1)
    return paginate([_event(row) for row in rows], page)


def _no_event(event_id: int) -> NotFound:
    return NotFound(f"no event with id {event_id} (or it has expired); GET /api/v1/events lists them")


def get_event(conn: Connection, principal: Principal | None, event_id: int) -> dict[str, Any]:
    require(principal, Permission.EVENTS_READ)
    rows = queries.event_rows(conn, event_id=event_id, limit=1) if 0 < event_id <= MAX_ID else []
    if not rows:
        raise _no_event(event_id)
    return _event(rows[0])


def reemit_event(conn: Connection, principal: Principal | None, catalog: Catalog, event_id: int,
                 now: float) -> dict[str, Any]:
    """The event's receivers run again on it, in a new story run; the answer names the run."""
    who = require(principal, Permission.EVENTS_REEMIT)
    found = event_store.kept(conn, event_id, now) if 0 < event_id <= MAX_ID else None
    view = event_store.view(conn, event_id) if found is not None else None
    action = catalog.actions.get(found.action_id) if found is not None else None
    if found is None or view is None or action is None:
        raise _no_event(event_id)
    story = story_page(conn, after_id=None, limit=1, story_id=found.story_id)
    if story and story[0]["disabled"]:
        raise Conflict(f"story {story[0]['name']!r} is disabled: enable it before re-emitting its events")
    receivers = [receiver.name for receiver in catalog.receivers_of(action.id) if not receiver.disabled]
    if not receivers:
        raise Conflict(f"action {action.name!r} has no enabled receivers: re-emitting event {event_id} would "
                       "run nothing", {"action_id": action.id})
    ingested = queue.reemit(conn, catalog, action, view, now)
    audit.record(conn, who.actor, "event.reemit", f"event {event_id}",
                 f"story {action.story_name!r}, action {action.name!r}: new run {ingested.story_run}, "
                 f"receivers {', '.join(repr(name) for name in receivers)}", now=now)
    return {"id": ingested.event_id, "reemitted_event_id": event_id, "story_run_guid": ingested.story_run,
            "jobs": ingested.jobs}


def _run(row: dict[str, Any]) -> dict[str, Any]:
    end = row["last_event_at"]
    return {"guid": row["guid"], "story_id": row["story_id"], "story_name": row["story"],
            "start_time": iso(row["created_at"]), "end_time": iso(end),
            "duration": None if end is None else round(max(0.0, end - row["created_at"]), 3),
            "action_count": row["actions"], "event_count": row["events"], "status": row["status"],
            "waiting_on": row["waiting_on"], "pending_jobs": row["pending"], "failed_jobs_count": row["failed"]}


def list_runs(conn: Connection, principal: Principal | None, page: PageRequest, story_id: int | None) -> Page:
    require(principal, Permission.RUNS_READ)
    rows = queries.run_rows(conn, story_id=story_id, before_id=page.after, limit=page.per_page + 1)
    return paginate([{**_run(row), "id": row["id"]} for row in rows], page)


_GUID = re.compile(r"[0-9A-Fa-f-]{1,36}")


def _run_guid(guid: str) -> str:
    """A story run's guid from a path, or 404: anything else (a NUL byte, a megabyte) never reaches the SQL."""
    if not _GUID.fullmatch(guid):
        raise NotFound("no such story run: a story run's guid is hexadecimal digits and dashes; "
                       "GET /api/v1/story_runs lists them")
    return guid


def get_run(conn: Connection, principal: Principal | None, guid: str) -> dict[str, Any]:
    """The run, its events in the order they were written (without payloads), and its failed jobs."""
    require(principal, Permission.RUNS_READ)
    guid = _run_guid(guid)
    rows = queries.run_rows(conn, guid=guid, limit=1)
    if not rows:
        raise NotFound(f"no story run {guid} (or it has expired); GET /api/v1/story_runs lists them")
    events = queries.run_events(conn, guid, RUN_EVENTS_SHOWN + 1)
    return {
        **_run(rows[0]),
        "events": [{"id": row["id"], "action_id": row["action_id"], "action_name": row["action"],
                    "previous_event_ids": _previous(row["parent_id"]), "created_at": iso(row["created_at"])}
                   for row in events[:RUN_EVENTS_SHOWN]],
        "events_truncated": len(events) > RUN_EVENTS_SHOWN,
        "failed_jobs": [{"id": row["id"], "action_id": row["action_id"], "action_name": row["action"],
                         "event_id": row["event_id"], "error": row["error"], "attempts": row["attempts"],
                         "finished_at": iso(row["finished_at"])} for row in queries.failed_jobs(conn, guid)],
    }


def list_logs(conn: Connection, principal: Principal | None, page: PageRequest, story_id: int | None,
              level: str | None) -> Page:
    require(principal, Permission.LOGS_READ)
    if level is not None and level not in LOG_LEVELS:
        raise Invalid(f"level must be one of {', '.join(LOG_LEVELS)}", {"parameter": "level",
                                                                        "levels": list(LOG_LEVELS)})
    rows = queries.log_rows(conn, story_id=story_id, level=level, before_id=page.after, limit=page.per_page + 1)
    return paginate([{"id": row["id"], "level": row["level"], "message": row["message"],
                      "created_at": iso(row["created_at"]), "story_id": row["story_id"],
                      "action_id": row["action_id"], "action_name": row["action"],
                      "story_run_guid": row["story_run"]} for row in rows], page)


def run_timeline(conn: Connection, principal: Principal | None, guid: str, page: PageRequest) -> Page:
    """A run's events in the order they were written, each with its own payload (``{action key: output}``)."""
    require(principal, Permission.RUNS_READ)
    guid = _run_guid(guid)
    rows = queries.run_events(conn, guid, page.per_page + 1, after_id=page.after, payloads=True)
    return paginate([{"id": row["id"], "action_id": row["action_id"], "action_name": row["action"],
                      "action_key": row["action_key"], "previous_event_ids": _previous(row["parent_id"]),
                      "created_at": iso(row["created_at"]), "payload": row["payload"]} for row in rows], page)


def newest_run_id(conn: Connection, principal: Principal | None) -> int:
    """What a live list of runs polls: it changes when a run starts."""
    require(principal, Permission.RUNS_READ)
    return queries.newest_run_id(conn)


def runs_since(conn: Connection, principal: Principal | None, after_id: int, watched: list[int],
               limit: int, story_id: int | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs newer than ``after_id`` (newest first, at most ``limit``), and the ``watched`` runs as they are now."""
    require(principal, Permission.RUNS_READ)
    new = queries.run_rows(conn, after_id=after_id, story_id=story_id, limit=limit)
    now = queries.run_rows(conn, ids=watched, limit=len(watched)) if watched else []
    return [{**_run(row), "id": row["id"]} for row in new], [{**_run(row), "id": row["id"]} for row in now]


def search_events(conn: Connection, principal: Principal | None, page: PageRequest,
                  search: event_search.Search) -> Page:
    """Events by story, action, time and text, newest first; a text search reads a bounded number of events
    per page (``store/event_search.py``): ``extra`` says how many, and whether it stopped short of the end."""
    require(principal, Permission.EVENTS_READ)
    if search.since is not None and search.until is not None and search.until <= search.since:
        raise Invalid("the end of the time window must come after its start", {"parameter": "until"})
    found = event_search.search_events(conn, search, before_id=page.after, limit=page.per_page + 1)
    items = [{"id": row["id"], "story_id": row["story_id"], "story_name": row["story"],
              "action_id": row["action_id"], "action_name": row["action"], "action_key": row["action_key"],
              "story_run_guid": row["story_run"], "created_at": iso(row["created_at"]), "payload": row["payload"]}
             for row in found.rows]
    shown = paginate(items, page)
    if found.scanned_to is not None:
        shown.next_cursor = encode_cursor(found.scanned_to)
        shown.extra = {"scanned": found.scanned, "cut_short": True}
    return shown

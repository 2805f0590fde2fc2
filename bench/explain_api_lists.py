"""The query plans and times of the API's lists on a database holding millions of events.

    .venv/bin/python bench/explain_api_lists.py sqlite:////tmp/explain.db [events]
    .venv/bin/python bench/explain_api_lists.py postgresql://postgres@127.0.0.1:5432/test [events]

Fills an empty database (a PostgreSQL schema of its own, dropped afterwards) with 20 stories of 10
actions and ``events`` events (default 2,000,000), then prints, for each list the API serves
(store/queries.py, newest first, keyset-paged), the plan of its first query and how long a
first page and a deep page take.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa

from storyline.store import queries
from storyline.store.db import make_engine, upgrade

STORIES, ACTIONS = 20, 10


def fill(conn: sa.Connection, events: int) -> None:
    json = "::json" if conn.dialect.name == "postgresql" else ""
    conn.exec_driver_sql(
        "INSERT INTO stories (id, guid, name, keep_events_for, send_to_story_enabled, created_at, updated_at, "
        "disabled) " + " UNION ALL ".join(
            f"SELECT {s}, 'g{s}', 'Story {s}', 86400, false, 0, 0, false" for s in range(1, STORIES + 1)))
    conn.exec_driver_sql(
        "INSERT INTO actions (id, story_id, position, guid, name, key, type, options, disabled) " + " UNION ALL ".join(
            f"SELECT {a}, {(a - 1) // ACTIONS + 1}, {a}, 'a{a}', 'Action {a}', 'action_{a}', 'x', '{{}}'{json}, false"
            for a in range(1, STORIES * ACTIONS + 1)))
    series = ("generate_series(1, :n) AS i" if conn.dialect.name == "postgresql" else
              "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s)")
    # Runs of 4 events, round-robin over stories; one action's events in every 200th slot of a story.
    conn.execute(sa.text(
        "INSERT INTO events (id, story_id, action_id, story_run, idx, payload, parent_id, created_at, expires_at) "
        f"SELECT i, ((i / 4) % {STORIES}) + 1, ((i / 4) % {STORIES}) * {ACTIONS} + (i % 4) + 1, "
        "'run-' || (i / 4), 0, '{\"k\": 1}'" + json + ", NULL, i * 0.01, 1e12 FROM " + series), {"n": events})
    conn.execute(sa.text(
        "INSERT INTO story_runs (id, guid, story_id, created_at, expires_at, event_bytes) "
        f"SELECT i, 'run-' || i, (i % {STORIES}) + 1, i * 0.04, 1e12, 0 FROM " + series), {"n": events // 4})
    conn.execute(sa.text(
        "INSERT INTO jobs (id, action_id, event_id, story_run, status, run_after, attempts, created_at) "
        f"SELECT i, ((i / 4) % {STORIES}) * {ACTIONS} + (i % 4) + 1, i, 'run-' || (i / 4), 'done', 0, 1, 0 FROM "
        + series), {"n": events})
    conn.execute(sa.text(
        "INSERT INTO logs (id, action_id, story_run, level, message, created_at) "
        f"SELECT i, ((i / 4) % {STORIES}) * {ACTIONS} + 1, 'run-' || (i / 4), "
        "CASE WHEN i % 100 = 0 THEN 'error' ELSE 'info' END, 'm', i * 0.1 FROM " + series), {"n": events // 10})


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("events, no filter", queries.event_rows, {}),
    ("events?story_id=", queries.event_rows, {"story_id": 7}),
    ("events?action_id=", queries.event_rows, {"action_id": 63}),
    ("events?story_run_guid=", queries.event_rows, {"story_run": "run-4242"}),
    ("events?since= (recent: few match)", queries.event_rows, {"since": None}),
    ("story_runs?story_id=", queries.run_rows, {"story_id": 7}),
    ("story_runs/{guid}", queries.run_rows, {"guid": "run-4242"}),
    ("logs?story_id=&level=error", queries.log_rows, {"story_id": 7, "level": "error"}),
]


def main(url: str, events: int) -> None:
    schema = None
    if url.startswith("postgresql"):
        schema = f"explain_{uuid.uuid4().hex[:8]}"
        with sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)).begin() as admin:
            admin.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.monotonic()
        with engine.begin() as conn:
            fill(conn, events)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"filled {events:,} events in {time.monotonic() - started:.0f}s ({engine.dialect.name})")
        statements: list[tuple[str, Any]] = []
        sa.event.listen(engine, "before_cursor_execute",
                        lambda c, cur, sql, params, *_: statements.append((sql, params)))
        for title, fn, filters in CASES:
            if "since" in filters:
                filters = {"since": (events - 10) * 0.01}
            with engine.connect() as conn:
                statements.clear()
                started = time.monotonic()
                first = fn(conn, **filters, limit=21)
                first_ms = (time.monotonic() - started) * 1000
                sql, params = next(s for s in statements if s[0].lstrip().upper().startswith("SELECT"))
                explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
                plan = conn.exec_driver_sql(explain + sql, params).all()
                deep_ms = None
                if first and "guid" not in filters:
                    started = time.monotonic()
                    fn(conn, **filters, before_id=first[-1]["id"] // 50 + 1, limit=21)
                    deep_ms = (time.monotonic() - started) * 1000
            print(f"\n== {title}: first page {first_ms:.1f} ms"
                  + ("" if deep_ms is None else f", a page 98% of the way down {deep_ms:.1f} ms"))
            for row in plan:
                print("   ", " | ".join(str(part) for part in row))
    finally:
        engine.dispose()
        if schema:
            with sa.create_engine(url.split("?")[0].replace("postgresql://", "postgresql+psycopg://", 1)).begin() as a:
                a.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000)

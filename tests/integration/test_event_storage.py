"""What is stored of a story run, and what it costs: on SQLite and PostgreSQL.

An event row holds its action's own output and names its parent event; the event an
action receives is assembled on read. A story run's event bytes are held to a budget.
JSON keeps integers of any width and nests at most ``jsondata.MAX_DEPTH`` levels.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from starlette.testclient import TestClient

from storyline import jsondata
from storyline.config import Settings
from storyline.engine import queue, retention
from storyline.engine.database import Database
from storyline.store import run_bytes
from storyline.store import tables as t
from storyline.store.db import HEAD, alembic_config, current_revision, make_engine, upgrade
from storyline.web.app import create_app
from tests.builders import TRANSFORM, TRIGGER, WEBHOOK, agent, story
from tests.harness import Harness, load_stories

WIDE = 123456789012345678901234567890


def explode_story(**explode: Any) -> dict[str, Any]:
    """Webhook -> explode ``items`` -> a trigger on each element that reads the webhook's ``tag`` too."""
    return story("Explode", [
        agent(WEBHOOK, "Hook", path="explode", secret="s", verbs="post"),
        agent(TRANSFORM, "Explode items", mode="explode", path="{{.hook.items}}", to="item", **explode),
        agent(TRIGGER, "Tagged", rules=[{"type": "regex", "path": "{{.hook.tag}}-{{.explode_items.item.n}}",
                                         "value": "^big-"}]),
    ], [(0, 1), (1, 2)])


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def stored_bytes(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.sum(sa.func.length(sa.cast(t.events.c.payload, sa.Text))))).scalar_one()


async def test_an_explode_stores_the_upstream_payload_once(database_url: str) -> None:
    items = [{"n": n} for n in range(100)]  # more than one job inlines (queue.MAX_INLINE): most are claimed
    body = {"tag": "big", "padding": "x" * 50_000, "items": items}
    async with Harness(database_url) as h:
        await h.load(explode_story())
        ingested = await h.ingest("Hook", body)
        await h.drain()
        events = h.events(run=ingested.story_run)
        tagged = [e for e in events if e["action"] == "Tagged"]
        assert len(tagged) == 100 and all(e["output"] == {"rule_matched": True} for e in tagged)
        # Each event is seen whole, upstream included ...
        last = tagged[-1]["payload"]
        assert last["hook"] == body and last["tagged"] == {"rule_matched": True}
        assert {e["payload"]["explode_items"]["item"]["n"] for e in tagged} == set(range(100))
        # ... but the 50 KB body is stored once, not once per element (about 10 MB before).
        assert stored_bytes(h.engine) < 2 * len(jsondata.dumps(body))


async def test_a_story_run_over_its_byte_budget_fails_at_once_saying_so(database_url: str) -> None:
    items = [{"n": n, "data": "y" * 1_000} for n in range(50)]
    async with Harness(database_url, max_run_bytes=30_000) as h:
        await h.load(explode_story())
        ingested = await h.ingest("Hook", {"tag": "big", "items": items})
        await h.drain()
        [failed] = [j for j in h.jobs() if j["status"] == "failed"]
        assert failed["attempts"] == 1
        assert failed["error"] == (
            f"story run {ingested.story_run} wrote more than 30000 bytes of events (STORYLINE_MAX_RUN_BYTES); "
            "nothing more is stored for it. Make the story emit less (explode fewer or smaller items, keep only "
            "the fields it needs) or raise STORYLINE_MAX_RUN_BYTES")
        assert [e["action"] for e in h.events(run=ingested.story_run)] == ["Hook"]


async def test_a_story_run_counts_the_bytes_of_its_events(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(explode_story())
        ingested = await h.ingest("Hook", {"tag": "big", "items": [{"n": 1}, {"n": 2}]})
        await h.drain()
        with h.engine.connect() as conn:
            counted = conn.execute(
                sa.select(t.story_runs.c.event_bytes).where(t.story_runs.c.guid == ingested.story_run)
            ).scalar_one()
        assert counted == stored_bytes(h.engine)


async def test_a_batch_counts_its_runs_bytes_at_its_end_and_commits_once(database_url: str) -> None:
    """On PostgreSQL counting locks the run's row: the writer adds the counts as its transaction ends."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite takes no row locks: its single writer serialises")
    async with Harness(database_url, worker=False) as h:
        await h.load(explode_story())
        ingested = await h.ingest("Hook", {"tag": "big", "items": [{"n": 1}]})
        [job] = await h.service.db.write(queue.claim, "w1", 10, 30.0, time.time())

        def transaction(conn: sa.Connection) -> int:
            return conn.execute(sa.text("SELECT txid_current()")).scalar_one()

        def complete(conn: sa.Connection) -> int:
            queue.run_pure(conn, h.service.catalogs.current, h.service.runtime, job, "w1", time.time())
            return transaction(conn)

        db = Database(h.engine, writers=1)
        tasks = [asyncio.ensure_future(db.write(op)) for op in (transaction, complete, transaction)]
        await asyncio.sleep(0)  # one turn of the loop queues all three: the writer takes them as one batch
        db.start()
        try:
            first, counted, after = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        finally:
            db.stop()
        assert first == counted == after
        with h.engine.connect() as conn:
            total = conn.execute(
                sa.select(t.story_runs.c.event_bytes).where(t.story_runs.c.guid == ingested.story_run)
            ).scalar_one()
        assert total == stored_bytes(h.engine)


async def test_two_transactions_counting_the_same_runs_in_opposite_orders_do_not_deadlock(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite takes no row locks: its single writer serialises")
    async with Harness(database_url, worker=False) as h:
        await h.load(explode_story())
        runs = [(await h.ingest("Hook", {"tag": "big", "items": []})).story_run for _ in range(2)]
        both_counted = threading.Barrier(2, timeout=10)

        def count(order: list[str]) -> None:
            with h.engine.begin() as conn:
                run_bytes.defer(conn)
                for run in order:
                    run_bytes.add(conn, run, 10)
                both_counted.wait()  # each holds its counts for both runs before either writes them
                run_bytes.write(conn)

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(count, runs), pool.submit(count, runs[::-1])]:
                done.result(timeout=30)  # a deadlock would fail one of them (40P01)
        with h.engine.connect() as conn:
            counted = conn.execute(sa.select(t.story_runs.c.guid, t.story_runs.c.event_bytes)).all()
        first = len(jsondata.dumps({"hook": {"tag": "big", "items": []}}))
        assert sorted(bytes_ for _, bytes_ in counted) == [first + 20, first + 20]


async def test_retention_keeps_an_event_while_a_later_one_is_built_on_it(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(explode_story())
        ingested = await h.ingest("Hook", {"tag": "big", "items": [{"n": 1}]})
        await h.drain()
        now = time.time()
        with h.engine.begin() as conn:  # the webhook's and the explode's events are past their time
            conn.execute(t.events.update().where(t.events.c.action_id != h.action("Tagged").id)
                         .values(expires_at=now - 1))
        await h.service.db.write(retention.purge, now)
        kept = h.events(run=ingested.story_run)
        assert [e["action"] for e in kept] == ["Hook", "Explode items", "Tagged"]  # all three: one is built on two
        tagged = kept[-1]
        assert tagged["payload"]["hook"]["tag"] == "big" and tagged["payload"]["explode_items"]["item"] == {"n": 1}
        assert await h.service.db.write(retention.purge, now + 10 * 86400) >= 3
        assert h.events(run=ingested.story_run) == []


async def test_events_written_before_parents_existed_read_as_they_were(database_url: str) -> None:
    """Until migration 0003 an event held its whole view; such a row is still its own view."""
    async with Harness(database_url, worker=False) as h:
        await h.load(explode_story())
        hook, explode = h.action("Hook"), h.action("Explode items")
        run, now = queue.new_run_guid(), time.time()
        view = {"hook": {"tag": "big", "items": [{"n": 7}]}, "explode_items": {"item": {"n": 7}}}

        def old_rows(conn: sa.Connection) -> None:
            conn.execute(t.story_runs.insert().values(guid=run, story_id=hook.story_id, created_at=now,
                                                      expires_at=now + 60))
            event_id = conn.execute(t.events.insert().returning(t.events.c.id).values(
                story_id=hook.story_id, action_id=explode.id, story_run=run, idx=0, payload=view, created_at=now,
                expires_at=now + 60)).scalar_one()
            conn.execute(t.jobs.insert().values(action_id=h.action("Tagged").id, event_id=event_id, story_run=run,
                                                status="queued", run_after=now, attempts=0, created_at=now))

        await h.service.db.write(old_rows)
        [job] = await h.service.db.write(queue.claim, "w1", 10, 30.0, time.time())
        assert job.payload == view
        await h.service.db.write(queue.run_pure, h.service.catalogs.current, h.service.runtime, job, "w1", time.time())
        assert h.events(run=run)[-1]["payload"] == {**view, "tagged": {"rule_matched": True}}


async def test_downgrading_below_0003_writes_each_event_whole_again(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(explode_story())
        ingested = await h.ingest("Hook", {"tag": "big", "items": [{"n": 1}, {"n": 2}]})
        await h.drain()
        views = [e["payload"] for e in h.events(run=ingested.story_run)]
    engine = make_engine(database_url)
    try:
        command.downgrade(alembic_config(engine), "0002")
        with engine.connect() as conn:
            stored = conn.execute(sa.select(t.events.c.payload).order_by(t.events.c.id)).scalars().all()
        assert stored == views
        upgrade(engine)
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------- deep JSON


async def test_an_action_output_nested_too_deep_fails_that_action_at_once(database_url: str) -> None:
    deep = story("Deep", [
        agent(WEBHOOK, "Hook", path="deep", secret="s", verbs="post"),
        agent(TRANSFORM, "Parse", mode="message_only", payload={"v": "{{ .hook.text | as_object }}"}),
    ], [(0, 1)])
    async with Harness(database_url, max_attempts=5) as h:
        await h.load(deep)
        await h.ingest("Hook", {"text": jsondata.dumps(nested(300))})
        await h.drain()
        [failed] = [j for j in h.jobs() if j["status"] == "failed"]
        assert failed["attempts"] == 1
        assert failed["error"] == ("action 'Parse' emitted an event that nests deeper than 64 levels of objects and "
                                   "arrays, which storyline does not store; flatten what it emits")
        with h.engine.connect() as conn:
            logged = " ".join(conn.execute(sa.select(t.logs.c.message)).scalars())
        assert "INSERT" not in logged and "bottom" not in logged


async def test_a_database_error_shows_neither_the_statement_parameters_nor_the_row(database_url: str) -> None:
    row = {"name": "twice", "kind": "text", "secret": b"s3cr3t-ciphertext", "created_at": 0.0, "updated_at": 0.0}
    async with Harness(database_url, worker=False) as h:
        await h.load(explode_story())
        await h.ingest("Hook", {"tag": "big", "items": []})
        with h.engine.begin() as conn:
            conn.execute(t.credentials.insert().values(row))
        with pytest.raises(sa.exc.IntegrityError) as raised, h.engine.begin() as conn:
            conn.execute(t.credentials.insert().values(row))
        assert "s3cr3t" not in str(raised.value)  # what the driver got is never in the error's text
        [job] = await h.service.db.write(queue.claim, "w1", 10, 30.0, time.time())
        await h.service.db.write(queue.retry_or_fail, job, "w1", raised.value, time.time(), max_attempts=1,
                                 base_seconds=1)
        [failed] = h.jobs()
        assert failed["error"].startswith("database error (")
        # Nor the statement, nor PostgreSQL's DETAIL, which quotes the row ("Key (name)=(twice)").
        assert "INSERT" not in failed["error"] and "twice" not in failed["error"]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    hook = story("Hook", [agent(WEBHOOK, "Hook", path="hook", secret="s", verbs="post")], [])
    load_stories(database_url, hook)
    with TestClient(create_app(Settings(database_url=database_url), worker=False)) as test_client:
        yield test_client


def webhook_events(database_url: str) -> list[Any]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.events.c.payload).order_by(t.events.c.id)).scalars().all()
    engine.dispose()
    return list(rows)


@pytest.mark.parametrize("depth", [65, 252, 1024, 5000])
def test_a_webhook_body_nested_too_deep_is_refused_400(client: TestClient, database_url: str, depth: int) -> None:
    response = client.post("/webhook/hook/s", content="[" * depth + "]" * depth,
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "request body is JSON nested deeper than 64 levels of objects and arrays; "
                                        "send it flatter"}
    assert webhook_events(database_url) == []


def test_a_webhook_body_as_deep_as_allowed_is_recorded(client: TestClient, database_url: str) -> None:
    response = client.post("/webhook/hook/s", content=jsondata.dumps({"deep": nested(63)}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 201
    assert webhook_events(database_url) == [{"hook": {"deep": nested(63)}}]


# ---------------------------------------------------------------------------------------------- wide integers


def test_integers_wider_than_64_bits_are_stored_exactly(client: TestClient, database_url: str) -> None:
    body = b'{"wide": 123456789012345678901234567890, "negative": -9223372036854775809, "max_u64": 18446744073709551615}'
    response = client.post("/webhook/hook/s", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 201
    [event] = webhook_events(database_url)
    assert event == {"hook": {"wide": WIDE, "negative": -9223372036854775809, "max_u64": 18446744073709551615}}
    assert all(isinstance(value, int) for value in event["hook"].values())


async def test_a_wide_integer_reaches_the_next_action_exactly(database_url: str) -> None:
    echo = story("Echo", [
        agent(WEBHOOK, "Hook", path="echo", secret="s", verbs="post"),
        agent(TRANSFORM, "Echo", mode="message_only", payload={"id": "{{ .hook.id }}", "same": "{{ .hook }}"}),
    ], [(0, 1)])
    async with Harness(database_url) as h:
        await h.load(echo)
        await h.ingest("Hook", {"id": WIDE})
        await h.drain()
        [_, echoed] = h.events()
        assert echoed["output"]["id"] == str(WIDE)
        assert echoed["payload"]["hook"] == {"id": WIDE}


# ---------------------------------------------------------------------------------------------- file modes


def test_the_sqlite_database_and_its_wal_and_shm_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as conn:  # -wal and -shm exist while a connection is open
            conn.execute(sa.select(t.stories.c.id)).all()
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir() if p.name.startswith("private")}
        engine.dispose()
    finally:
        os.umask(old)
    assert modes == {"private.db": 0o600, "private.db-wal": 0o600, "private.db-shm": 0o600}


def test_a_database_made_readable_by_others_is_made_private_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal"):
        (tmp_path / name).touch()
        os.chmod(tmp_path / name, 0o644)
    engine = make_engine(f"sqlite:///{path}")
    engine.dispose()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"old.db": 0o600, "old.db-wal": 0o600}

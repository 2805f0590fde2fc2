"""A story's runaway regular expression fails its own action and stalls nobody else.

``^(a|a)*$`` backtracks exponentially (in Python's ``re`` and in the ``regex`` package
alike): on 40 ``a`` and a ``!`` it would run for hours. A real ``storyline serve`` runs it
as a webhook rule (in the web handler) and as a trigger rule (in the worker) while other
webhooks and ``/healthz`` are timed.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.server import STOP_GRACE_SECONDS
from tests.builders import TRIGGER, WEBHOOK, agent, story
from tests.e2e.processes import Process, environment, free_port, serve
from tests.harness import load_stories
from tests.support import BUSY, eventually

pytestmark = pytest.mark.slow

RUNAWAY = r"^(a|a)*$"
HOSTILE = {"text": "a" * 40 + "!"}
LIMIT = 1.0
FAST = 0.3  # seconds: what "stays fast" means for an ack or /healthz (a blocked one waits up to LIMIT)


def _stories() -> list[dict[str, Any]]:
    guarded = story("Guarded", [
        agent(WEBHOOK, "Guarded", path="guarded", secret="s", verbs="post",
              rules=[{"type": "regex", "path": "{{.guarded.text}}", "value": RUNAWAY}]),
    ], [])
    triggered = story("Triggered", [
        agent(WEBHOOK, "Incoming", path="incoming", secret="s", verbs="post"),
        agent(TRIGGER, "Only a", rules=[{"type": "regex", "path": "{{.incoming.text}}", "value": RUNAWAY}]),
    ], [(0, 1)])
    other = story("Other", [agent(WEBHOOK, "Other", path="other", secret="s", verbs="post")], [])
    return [guarded, triggered, other]


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Process]]:
    load_stories(database_url, *_stories())
    port = free_port()
    process = serve(port, environment(database_url, STORYLINE_REGEX_TIMEOUT=str(LIMIT)), tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop()


@pytest.fixture
def server(served: tuple[str, Process]) -> str:
    return served[0]


def _trigger_jobs(database_url: str) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            j, a = t.jobs.c, t.actions.c
            return conn.execute(
                sa.select(j.status, j.attempts, j.error, j.created_at, j.finished_at)
                .join(t.actions, a.id == j.action_id).where(a.name == "Only a")
            ).all()
    finally:
        engine.dispose()


def test_a_runaway_webhook_rule_is_refused_naming_the_rule_within_about_the_limit(server: str) -> None:
    started = time.monotonic()
    answer = httpx.post(f"{server}/webhook/guarded/s", json=HOSTILE, timeout=30)
    elapsed = time.monotonic() - started
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert "rule 0" in error and f"ran past the {LIMIT:g}s limit" in error and RUNAWAY in error
    assert elapsed < LIMIT + BUSY


def test_a_runaway_trigger_rule_fails_its_action_once_naming_the_rule_within_about_the_limit(
    server: str, database_url: str
) -> None:
    assert httpx.post(f"{server}/webhook/incoming/s", json=HOSTILE, timeout=30).status_code == 201
    [job] = eventually(lambda: [job for job in _trigger_jobs(database_url) if job.status == "failed"], 30,
                       lambda: f"the trigger failed: {_trigger_jobs(database_url)}")
    assert job.attempts == 1  # a permanent failure: the same text would run past the limit again
    assert "rule 0" in job.error and f"ran past the {LIMIT:g}s limit" in job.error
    assert job.finished_at - job.created_at < LIMIT + BUSY


def test_other_webhooks_and_healthz_stay_fast_while_runaway_rules_run(server: str, database_url: str) -> None:
    stop = threading.Event()

    def attack(path: str) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                client.post(f"{server}/webhook/{path}/s", json=HOSTILE)

    timings: dict[str, list[float]] = {"ack": [], "healthz": []}
    with concurrent.futures.ThreadPoolExecutor(4) as pool, httpx.Client(timeout=30) as client:
        attackers = [pool.submit(attack, path) for path in ("guarded", "guarded", "incoming", "incoming")]
        # Measure while rules are running: from the first trigger job on, for three limits' time.
        eventually(lambda: _trigger_jobs(database_url), 30, "a trigger job created")
        # ... for three limits' time at least, and until a runaway trigger job has failed.
        until = time.monotonic() + 3 * LIMIT
        give_up = time.monotonic() + 30
        while time.monotonic() < until or (
            time.monotonic() < give_up and not any(job.status == "failed" for job in _trigger_jobs(database_url))
        ):
            for name, send in (("ack", lambda: client.post(f"{server}/webhook/other/s", json={"n": 1})),
                               ("healthz", lambda: client.get(f"{server}/healthz"))):
                started = time.monotonic()
                assert send().status_code in (200, 201)
                timings[name].append(time.monotonic() - started)
            time.sleep(0.05)  # a sample every 50 ms
        stop.set()
        for future in attackers:
            future.result()
    failed = [job for job in _trigger_jobs(database_url) if job.status == "failed"]
    assert failed, "the runaway trigger rule never ran while acks were timed"
    # Were runaway rules to hold the server, with four attackers at it nearly every request would wait for
    # part of a limit: the typical one stays fast. The slowest is only shown: a busy machine stalls any one.
    typical = {name: round(statistics.median(values), 3) for name, values in timings.items()}
    slowest = {name: round(max(values), 3) for name, values in timings.items()}
    assert typical["ack"] < FAST and typical["healthz"] < FAST, (typical, slowest)


def test_serve_stops_within_seconds_of_sigterm_whatever_is_queued_or_still_arriving(
    served: tuple[str, Process], database_url: str
) -> None:
    server, process = served
    with httpx.Client(timeout=30) as client:
        for _ in range(40):  # forty seconds of runaway matches, queued for one thread
            assert client.post(f"{server}/webhook/incoming/s", json=HOSTILE).status_code == 201
    eventually(lambda: any(job.status == "failed" for job in _trigger_jobs(database_url)), 30,
               "the first runaway trigger job failed")
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sending:
        # A body still arriving would be waited for until the body timeout (30 s).
        sending.sendall(b"POST /webhook/other/s HTTP/1.1\r\nHost: storyline\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        process.stop()
        took = time.monotonic() - started
    assert process.proc.returncode in (0, -signal.SIGTERM), process.output()  # stopped, not killed
    # What runs finishes (one match: at most the limit), what is queued is left to run after a restart, and a
    # request not answered within the grace is dropped (it was never acknowledged).
    assert took < STOP_GRACE_SECONDS + LIMIT + BUSY, took
    assert any(job.status in ("queued", "running") for job in _trigger_jobs(database_url))

"""serve's worker processes: one killed is started again and nothing is lost; SIGTERM finishes the jobs in flight."""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from storyline.store import tables as t
from storyline.store.db import make_engine
from tests.builders import slash_command_story
from tests.e2e.processes import cli, environment, free_port, serve
from tests.e2e.test_crash_recovery import EXPECTED_PER_RUN, FORM, _flood, _settled
from tests.fakes.slack import FakeSlack
from tests.fakes.virustotal import FakeVirusTotal
from tests.support import eventually

pytestmark = pytest.mark.slow


def _setup(database_url: str, tmp_path: Path, vt: FakeVirusTotal, slack: FakeSlack, **env: str) -> dict[str, str]:
    story_file = tmp_path / "story.json"
    story_file.write_text(json.dumps(slash_command_story("https://www.virustotal.com", "https://slack.com")))
    environ = environment(database_url, STORYLINE_EGRESS_OVERRIDES=f"www.virustotal.com={vt.url},slack.com={slack.url}",
                          **env)
    cli("story", "import", str(story_file), env=environ)
    return environ


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return 0, {}
    return response.status_code, response.json()


def _unhealthy(port: int) -> dict[str, Any] | None:
    code, body = _health(port)
    return body if code == 503 else None


def _runs(engine: sa.Engine) -> dict[str, collections.Counter[str]]:
    """Each story run's events, counted by action name."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.events.c.story_run, t.actions.c.name).join(t.actions, t.actions.c.id == t.events.c.action_id)
        ).all()
    per_run: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for run, action in rows:
        per_run[run][action] += 1
    return per_run


def _jobs(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.jobs.c.status, sa.func.count()).group_by(t.jobs.c.status)).all())


def test_a_worker_process_killed_mid_flood_is_started_again_and_every_accepted_run_completes_once(
    database_url: str, tmp_path: Path
) -> None:
    with FakeVirusTotal() as vt, FakeSlack() as slack:
        vt.latency = 0.2  # the kill lands while the worker holds jobs waiting on VirusTotal
        env = _setup(database_url, tmp_path, vt, slack, STORYLINE_LEASE_SECONDS="2", STORYLINE_RETRY_BASE_SECONDS="0.2")
        port = free_port()
        server = serve(port, env, tmp_path / "serve.log", "--workers", "2")
        engine = make_engine(database_url)
        try:
            assert _health(port)[1]["workers"]["running"] == 2
            statuses: list[int] = []
            flood = threading.Thread(target=_flood, args=(f"http://127.0.0.1:{port}/webhook/analyze/s3cret", 600,
                                                          threading.Event(), statuses))
            flood.start()
            eventually(lambda: statuses.count(200) >= 100 and len(vt.calls) >= 20, 30, "100 accepted, 20 VT calls")
            victim = server.children()[0]
            os.kill(victim, signal.SIGKILL)

            # Until its replacement runs, this node says it is not whole, and why.
            body = eventually(lambda: _unhealthy(port), 10, "/healthz answering 503")
            assert "was killed by SIGKILL" in body["checks"]["workers"], body
            eventually(lambda: _health(port)[0] == 200, 60, "/healthz answering 200 again")
            workers = _health(port)[1]["workers"]
            assert workers["running"] == 2 and sum(c["restarts"] for c in workers["children"]) == 1, workers
            assert victim not in server.children() and len(server.children()) == 2

            flood.join(timeout=120)
            accepted = statuses.count(200)
            eventually(lambda: _settled(engine), 120, "every job done")
            per_run, jobs = _runs(engine), _jobs(engine)
        finally:
            server.stop()
            engine.dispose()
    assert "worker process 1 (pid" in server.output() and "was killed by SIGKILL" in server.output()
    assert accepted == 600, f"only {accepted} of 600 requests accepted while a worker process was restarted"
    assert len(per_run) == accepted
    assert jobs.get("failed", 0) == 0, jobs
    for run, counts in per_run.items():
        assert counts == EXPECTED_PER_RUN, f"story run {run}: {dict(counts)}"


@pytest.mark.parametrize("who", ["serve", "group"])
def test_sigterm_stops_taking_work_and_finishes_the_jobs_in_flight(
    who: str, database_url: str, tmp_path: Path
) -> None:
    """SIGTERM to serve alone (``kill PID``) or to its whole process group (a service manager, Ctrl-C)."""
    runs = 20
    with FakeVirusTotal() as vt, FakeSlack() as slack:
        vt.latency = 1.5  # long enough that the signal lands while lookups are in flight
        env = _setup(database_url, tmp_path, vt, slack, STORYLINE_WORKER_CONCURRENCY="4")
        port = free_port()
        server = serve(port, env, tmp_path / "serve-1.log", "--workers", "1")
        engine = make_engine(database_url)
        try:
            workers = server.children()
            for _ in range(runs):
                response = httpx.post(f"http://127.0.0.1:{port}/webhook/analyze/s3cret", content=FORM, timeout=10,
                                      headers={"content-type": "application/x-www-form-urlencoded"})
                assert response.status_code == 200
            eventually(lambda: len(vt.calls) >= 4, 30, "4 lookups in flight")
            if who == "group":
                os.killpg(server.proc.pid, signal.SIGTERM)
            else:
                server.proc.terminate()
            code = server.proc.wait(timeout=30)
            stopped = {"jobs": _jobs(engine), "runs": _runs(engine), "lookups": len(vt.calls)}
            assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "a worker process outlived serve"

            server = serve(port, env, tmp_path / "serve-2.log", "--workers", "1")
            eventually(lambda: _settled(engine), 60, "the rest done after the restart")
            per_run = _runs(engine)
        finally:
            server.stop()
            engine.dispose()
    assert code in (0, -signal.SIGTERM)  # uvicorn ends by raising the signal it handled
    # Nothing was left running: every lookup that had started was answered and recorded ...
    assert stopped["jobs"].get("running", 0) == 0, stopped["jobs"]
    searched = sum(counts["Search VirusTotal"] for counts in stopped["runs"].values())
    assert searched == stopped["lookups"], stopped
    # ... and it stopped taking work: the rest waited, queued, for the next serve.
    assert stopped["jobs"].get("queued", 0) > 0, stopped["jobs"]
    assert "starting another" not in (tmp_path / "serve-1.log").read_text()
    assert len(per_run) == runs and all(counts == EXPECTED_PER_RUN for counts in per_run.values())

"""On PostgreSQL, one web node and two worker processes share the work, each job run once."""

from __future__ import annotations

import collections
import concurrent.futures
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from storyline.store import tables as t
from storyline.store.db import make_engine
from tests.builders import slash_command_story
from tests.e2e.processes import Process, cli, environment, free_port, serve
from tests.e2e.test_crash_recovery import EXPECTED_PER_RUN, FORM
from tests.fakes.slack import FakeSlack
from tests.fakes.virustotal import FakeVirusTotal
from tests.support import eventually

pytestmark = pytest.mark.slow
RUNS = 150


def test_two_workers_and_a_web_node_share_the_work_without_running_a_job_twice(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("scale-out is PostgreSQL's job; SQLite serves one process")
    with FakeVirusTotal() as vt, FakeSlack() as slack:
        story_file = tmp_path / "story.json"
        story_file.write_text(json.dumps(slash_command_story("https://www.virustotal.com", "https://slack.com")))
        env = environment(database_url,
                          STORYLINE_EGRESS_OVERRIDES=f"www.virustotal.com={vt.url},slack.com={slack.url}")
        cli("story", "import", str(story_file), env=env)
        workers = [Process(["worker", "--concurrency", "8"], env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
        port = free_port()
        web = serve(port, env, tmp_path / "serve.log", "--no-worker")
        try:
            url = f"http://127.0.0.1:{port}/webhook/analyze/s3cret"
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(
                    lambda _: httpx.post(url, content=FORM, timeout=10,
                                         headers={"content-type": "application/x-www-form-urlencoded"}).status_code,
                    range(RUNS)))
            assert statuses == [200] * RUNS
            engine = make_engine(database_url)

            def finished() -> bool:
                with engine.connect() as conn:
                    done = conn.execute(sa.select(sa.func.count()).where(t.jobs.c.status == "done")).scalar_one()
                    jobs = conn.execute(sa.select(sa.func.count()).select_from(t.jobs)).scalar_one()
                return bool(jobs) and done == jobs and len(slack.calls) >= 2 * RUNS

            eventually(finished, 60, "every job done and every Slack call made")
            with engine.connect() as conn:
                by_worker = dict(conn.execute(
                    sa.select(t.jobs.c.worker, sa.func.count()).group_by(t.jobs.c.worker)).all())
                rows = conn.execute(
                    sa.select(t.events.c.story_run, t.actions.c.name)
                    .join(t.actions, t.actions.c.id == t.events.c.action_id)).all()
            engine.dispose()
        finally:
            web.stop()
            for worker in workers:
                worker.stop()

    # Both worker processes took part, and the web node ran nothing.
    assert len(by_worker) == 2 and min(by_worker.values()) > 0, by_worker
    # No job ran twice: every upstream call happened exactly once per domain per run.
    assert len(vt.calls) == 2 * RUNS and len(slack.calls) == 2 * RUNS
    per_run: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for run, action in rows:
        per_run[run][action] += 1
    assert len(per_run) == RUNS
    assert all(counts == EXPECTED_PER_RUN for counts in per_run.values())

"""The durable queue's invariants, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from storyline.actions.base import ActionError, Result
from storyline.engine import queue, retention
from storyline.store import tables as t
from tests.builders import TRANSFORM, TRIGGER, WEBHOOK, agent, slash_command_story, story
from tests.harness import Harness

COMMAND = {"user_name": "alice", "command": "/analyzedomain", "channel_id": "C1",
           "text": "evil-example.com and login.bad-site.net"}


# What the first job (the trigger) files when its rule matched; the worker runs it, then files this.
MATCHED = Result(events=[{"rule_matched": True}])


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


async def test_a_chain_of_pure_actions_runs_to_completion(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(slash_command_story())
        ingested = await h.ingest("Receive commands", COMMAND)
        await h.drain()
        events = h.events(run=ingested.story_run)
        assert [e["action"] for e in events] == [
            "Receive commands", "Is analyze domain", "Extract domains", "Explode domains", "Explode domains"]
        last = events[-1]["payload"]
        assert last["receive_commands"]["user_name"] == "alice"
        assert last["is_analyze_domain"] == {"rule_matched": True}
        assert {e["payload"]["explode_domains"]["domain"] for e in events[-2:]} == {
            "evil-example.com", "login.bad-site.net"}


async def test_the_entry_event_and_its_jobs_are_committed_by_ingest(database_url: str) -> None:
    async with Harness(database_url, worker=False) as h:
        await h.load(slash_command_story())
        ingested = await h.ingest("Receive commands", COMMAND)
        # A second connection (another process, say) sees both once ingest returned.
        with sa.create_engine(h.engine.url).connect() as other:
            events = other.execute(sa.select(t.events.c.id)).scalars().all()
            jobs = other.execute(sa.select(t.jobs.c.event_id, t.jobs.c.status)).all()
        assert events == [ingested.event_id]
        assert jobs == [(ingested.event_id, "queued")]


async def test_a_job_that_cannot_file_its_result_leaves_no_trace(database_url: str) -> None:
    """Events, downstream jobs and completion commit together, or not at all."""
    async with Harness(database_url, worker=False) as h:
        await h.load(slash_command_story())
        await h.ingest("Receive commands", COMMAND)
        [job] = await h.service.db.write(queue.claim, "w1", 10, 30.0, time.time())
        catalog = h.service.catalogs.current
        # A receiver that is not in the database: inserting its job violates a foreign key
        # after the job's events were written, so the whole transaction must roll back.
        trigger = catalog.actions[job.action_id]
        catalog.receivers[trigger.id] = [*catalog.receivers.get(trigger.id, []), 999_999]
        catalog.actions[999_999] = type(trigger)(**{**trigger.__dict__, "id": 999_999, "type": "Agents::HTTPRequestAgent"})
        with pytest.raises(sa.exc.IntegrityError):
            await h.service.db.write(queue.complete, catalog, h.service.runtime, job, "w1", MATCHED, time.time())
        assert count(h.engine, t.events) == 1  # only the webhook's
        assert [(j["status"], j["worker"]) for j in h.jobs()] == [("running", "w1")]


async def test_expired_leases_are_reclaimed_and_the_old_owner_cannot_finish(database_url: str) -> None:
    async with Harness(database_url, worker=False) as h:
        await h.load(slash_command_story())
        await h.ingest("Receive commands", COMMAND)
        db = h.service.db
        claimed_at = time.time()
        [job] = await db.write(queue.claim, "dead-worker", 10, 0.05, claimed_at)
        assert await db.write(queue.claim, "w2", 10, 30.0, claimed_at) == []
        assert await db.write(queue.reap, claimed_at + 0.1, 5) == 1  # the lease ran out
        [again] = await db.write(queue.claim, "w2", 10, 30.0, time.time())
        assert again.id == job.id and again.attempts == 2
        catalog = h.service.catalogs.current
        with pytest.raises(queue.LeaseLost):
            await db.write(queue.complete, catalog, h.service.runtime, job, "dead-worker", MATCHED, time.time())
        await db.write(queue.complete, catalog, h.service.runtime, again, "w2", MATCHED, time.time())
        assert h.jobs()[0]["status"] == "done"


async def test_failing_actions_retry_with_backoff_then_are_recorded_failed(database_url: str) -> None:
    async with Harness(database_url, worker=False, max_attempts=3) as h:
        await h.load(slash_command_story())
        await h.ingest("Receive commands", COMMAND)
        db = h.service.db
        outcomes = []
        for _ in range(3):
            await db.write(lambda conn: conn.execute(t.jobs.update().values(run_after=0)))
            [job] = await db.write(queue.claim, "w1", 10, 30.0, time.time())
            error = ActionError("upstream said 503", retryable=True)
            outcomes.append(
                await db.write(queue.retry_or_fail, job, "w1", error, time.time(), max_attempts=3, base_seconds=1.0)
            )
        assert outcomes == ["retry", "retry", "failed"]
        [job] = h.jobs()
        assert job["status"] == "failed" and "503" in job["error"]
        with h.engine.connect() as conn:
            levels = conn.execute(sa.select(t.logs.c.level, t.logs.c.message).order_by(t.logs.c.id)).all()
        assert [level for level, _ in levels] == ["warning", "warning", "error"]
        assert "retrying in 1.0s" in levels[0][1] and "retrying in 2.0s" in levels[1][1]
        assert "failed after 3 attempt(s): upstream said 503" in levels[2][1]


async def test_a_final_error_fails_at_once(database_url: str) -> None:
    async with Harness(database_url, worker=False) as h:
        await h.load(slash_command_story())
        await h.ingest("Receive commands", COMMAND)
        [job] = await h.service.db.write(queue.claim, "w1", 10, 30.0, time.time())
        outcome = await h.service.db.write(
            queue.retry_or_fail, job, "w1", ActionError("bad option"), time.time(), max_attempts=5, base_seconds=1
        )
        assert outcome == "failed"


async def test_a_broken_template_is_a_failed_action_and_others_still_run(database_url: str) -> None:
    bad = story("Broken", [
        agent(WEBHOOK, "Hook", path="broken", secret="s", verbs="post"),
        agent(TRANSFORM, "Bad template", mode="message_only", payload={"x": "{{ .hook.a | regex_replace: '(', '' }}"}),
        agent(TRIGGER, "Fine", rules=[{"type": "regex", "path": "{{.hook.a}}", "value": "."}]),
    ], [(0, 1), (0, 2)])
    async with Harness(database_url, max_attempts=2) as h:
        await h.load(bad)
        ingested = await h.ingest("Hook", {"a": "1"})
        await h.drain()
        assert [e["action"] for e in h.events(run=ingested.story_run)] == ["Hook", "Fine"]
        failed = [j for j in h.jobs() if j["status"] == "failed"]
        assert len(failed) == 1 and "payload" in failed[0]["error"]


async def test_retention_purges_expired_events_and_finished_jobs(database_url: str) -> None:
    data = slash_command_story()
    data["keep_events_for"] = 60
    async with Harness(database_url) as h:
        await h.load(data)
        await h.ingest("Receive commands", COMMAND)
        await h.drain()
        assert count(h.engine, t.events) == 5
        assert await h.service.db.write(retention.purge, time.time()) == 0
        removed = await h.service.db.write(retention.purge, time.time() + 61)
        assert removed >= 5 + 1 + 1  # events, the run, the finished job
        assert count(h.engine, t.events) == 0 and count(h.engine, t.jobs) == 0


async def test_retention_keeps_an_expired_run_while_a_job_of_it_still_waits(database_url: str) -> None:
    """A run whose story keeps a minute but whose job is due later (a delay, a retry) is kept, with its
    jobs, until that job has finished; then the run and every job of it go together."""
    data = slash_command_story()
    data["keep_events_for"] = 60
    async with Harness(database_url) as h:
        await h.load(data)
        await h.ingest("Receive commands", COMMAND)
        await h.drain()
        jobs = count(h.engine, t.jobs)
        first = min(j["id"] for j in h.jobs())
        await h.service.db.write(lambda conn: conn.execute(t.jobs.update().where(t.jobs.c.id == first)
                                                           .values(status="queued", run_after=time.time() + 3600)))
        await h.service.db.write(retention.purge, time.time() + 61)
        assert count(h.engine, t.story_runs) == 1 and count(h.engine, t.jobs) == jobs
        await h.service.db.write(lambda conn: conn.execute(t.jobs.update().where(t.jobs.c.id == first)
                                                           .values(status="done")))
        await h.service.db.write(retention.purge, time.time() + 61)
        assert count(h.engine, t.story_runs) == 0 and count(h.engine, t.jobs) == 0


async def test_retention_keeps_each_actions_events_for_its_own_keep_events_for(database_url: str) -> None:
    """Schema 1 exports carry ``keep_events_for`` on each agent; 0 is the story's (a week by default)."""
    hour, month = 3600, 30 * 86400
    data = story("Kept per action", [
        {**agent(WEBHOOK, "Hook", path="keep", secret="s", verbs="post"), "keep_events_for": 0},
        {**agent(TRANSFORM, "For an hour", mode="message_only", payload={"a": "1"}), "keep_events_for": hour},
        {**agent(TRANSFORM, "For a month", mode="message_only", payload={"b": "2"}), "keep_events_for": month},
    ], [(0, 1), (0, 2)], schema_version=1)
    async with Harness(database_url) as h:
        await h.load(data)
        ingested = await h.ingest("Hook", {"x": 1})
        await h.drain()
        now = time.time()

        def kept() -> tuple[list[str], list[str], int]:
            jobs = sorted(h.service.catalogs.current.actions[j["action_id"]].name for j in h.jobs())
            return sorted(e["action"] for e in h.events(run=ingested.story_run)), jobs, count(h.engine, t.story_runs)

        # The hour's event goes; jobs are the run's bookkeeping and stay as long as the run.
        await h.service.db.write(retention.purge, now + 2 * hour)
        assert kept() == (["For a month", "Hook"], ["For a month", "For an hour"], 1)
        # The story's week is over: the webhook's event stays while the month's is built on it, and so does the run.
        await h.service.db.write(retention.purge, now + 8 * 86400)
        assert kept() == (["For a month", "Hook"], ["For a month", "For an hour"], 1)
        await h.service.db.write(retention.purge, now + month + 60)
        assert kept() == ([], [], 0)


async def test_a_pure_action_whose_regex_outruns_the_writers_budget_runs_outside_it_with_the_whole_limit(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ^(a|a)*$ backtracks for about 0.1 s on 20 characters here: past the writer's budget, within the limit.
    monkeypatch.setenv("STORYLINE_REGEX_TIMEOUT", "60")
    slow = [{"type": "!regex", "path": "{{.hook.text}}", "value": "^(a|a)*$"}]
    data = story("Slow rule", [
        agent(WEBHOOK, "Hook", path="slow-rule", secret="s"),
        agent(TRIGGER, "Not all a", rules=slow),
        agent(TRIGGER, "Also not all a", rules=slow),
    ], [(0, 1), (1, 2)])
    async with Harness(database_url) as h:
        await h.load(data)
        await h.ingest("Hook", {"text": "a" * 20 + "!"})
        await h.drain()
        assert [e["output"] for e in h.events(action="Also not all a")] == [{"rule_matched": True}]
        assert all(job["status"] == "done" and job["attempts"] == 1 for job in h.jobs())
        runtime = h.service.runtime
        assert {h.action("Not all a").id, h.action("Also not all a").id} <= runtime.outside_writer

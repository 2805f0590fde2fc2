"""Send to Story: a caller runs a sub-story and emits its exit payload, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from storyline.config import Settings
from storyline.engine.oneshot import run_once
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.store.stories import StoryConflictError, load_story, save_story
from storyline.tines.exporter import export_story
from storyline.tines.importer import parse_story
from tests.builders import HTTP, TRANSFORM, TRIGGER, WEBHOOK, agent, story
from tests.harness import Harness, load_stories

SEND = "Agents::SendToStoryAgent"


def sub_story(name: str = "Check VIP", *, exit_: bool = True, middle: dict[str, Any] | None = None) -> dict[str, Any]:
    """Entry webhook -> trigger on the e-mail -> exit transform that returns a verdict."""
    entry = agent(WEBHOOK, "Receive STS", secret="s", verbs="post")
    check = middle or agent(TRIGGER, "Is VIP", rules=[
        {"type": "regex", "path": "{{.receive_sts.body.email}}", "value": "@example\\.com$"}])
    done = agent(TRANSFORM, "Return verdict", mode="message_only",
                 payload={"vip": "yes", "email": "{{.receive_sts.body.email}}",
                          "caller_event": "{{.receive_sts['#event_id']}}"})
    return story(name, [entry, check, done], [(0, 1), (1, 2)], send_to_story_enabled=True,
                 entry_agent_guid=entry["guid"], exit_agent_guids=[done["guid"]] if exit_ else [])


def caller_story(target: str = "{% story Check VIP %}", **options: Any) -> dict[str, Any]:
    """Webhook -> Send to Story -> a transform that uses the sub-story's answer."""
    return story("Alert triage", [
        agent(WEBHOOK, "Receive alert", path="alert", secret="s"),
        agent(SEND, "Check VIP", story=target, payload={"email": "{{.receive_alert.email}}"}, **options),
        agent(TRANSFORM, "Decide", mode="message_only",
              payload={"page": "{{.check_vip.vip}}", "alert": "{{.receive_alert.id}}"}),
    ], [(0, 1), (1, 2)])


def job_rows(h: Harness, run: str) -> list[Any]:
    with h.engine.connect() as conn:
        j, a = t.jobs.c, t.actions.c
        return conn.execute(
            sa.select(a.name, j.status, j.error).join(t.actions, a.id == j.action_id)
            .where(j.story_run == run).order_by(j.id)
        ).all()


def logs(h: Harness, run: str) -> list[str]:
    with h.engine.connect() as conn:
        return list(conn.execute(sa.select(t.logs.c.message).where(t.logs.c.story_run == run)).scalars())


async def test_the_caller_emits_the_exit_payload_in_its_own_story_run(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(sub_story())
        await h.load(caller_story())
        ingested = await h.ingest("Receive alert", {"id": 7, "email": "ceo@example.com"})
        await h.drain()

        events = h.events(run=ingested.story_run)
        assert [e["action"] for e in events] == ["Receive alert", "Check VIP", "Decide"]
        entry_event_id = events[0]["id"]
        assert events[1]["output"] == {"vip": "yes", "email": "ceo@example.com", "caller_event": str(entry_event_id)}
        # The caller's event carries the caller's upstream context, so downstream templates reach both.
        assert events[2]["output"] == {"page": "yes", "alert": "7"}
        # "Decide" is pure: it ran inline, in the transaction that emitted the exit payload.
        assert [(name, status) for name, status, _ in job_rows(h, ingested.story_run)] == [("Check VIP", "done")]

        sub = h.events(story="Check VIP")
        assert [e["action"] for e in sub] == ["Receive STS", "Is VIP", "Return verdict"]
        assert sub[0]["story_run"] != ingested.story_run
        assert sub[0]["output"]["body"] == {"email": "ceo@example.com"}
        assert sub[0]["output"]["#event_id"] == entry_event_id


async def test_payload_is_not_nested_under_body_when_asked(database_url: str) -> None:
    flat = agent(TRIGGER, "Is VIP", rules=[
        {"type": "regex", "path": "{{.receive_sts.email}}", "value": "@example\\.com$"}])
    async with Harness(database_url) as h:
        await h.load(sub_story(middle=flat))
        await h.load(caller_story(send_payload_as_body="false"))
        ingested = await h.ingest("Receive alert", {"id": 1, "email": "cfo@example.com"})
        await h.drain()
        assert [e["action"] for e in h.events(run=ingested.story_run)][-1] == "Decide"


async def test_a_sub_story_that_stops_before_its_exit_makes_the_caller_emit_nothing(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(sub_story())
        await h.load(caller_story())
        ingested = await h.ingest("Receive alert", {"id": 2, "email": "someone@elsewhere.org"})
        await h.drain()
        assert [e["action"] for e in h.events(run=ingested.story_run)] == ["Receive alert"]
        assert [(name, status) for name, status, _ in job_rows(h, ingested.story_run)] == [("Check VIP", "done")]
        assert any("finished without reaching an exit action; nothing emitted" in m
                   for m in logs(h, ingested.story_run))


async def test_a_sub_story_without_exit_actions_answers_nothing(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(sub_story(exit_=False))
        await h.load(caller_story())
        ingested = await h.ingest("Receive alert", {"id": 3, "email": "ceo@example.com"})
        await h.drain()
        assert [e["action"] for e in h.events(run=ingested.story_run)] == ["Receive alert"]
        assert [e["action"] for e in h.events(story="Check VIP")] == ["Receive STS", "Is VIP", "Return verdict"]


async def test_a_failed_sub_story_fails_the_caller_with_the_reason(database_url: str) -> None:
    broken = agent(HTTP, "Is VIP", method="get", url="http://127.0.0.1:9/nothing-listens-here")
    async with Harness(database_url, max_attempts=1) as h:
        await h.load(sub_story(middle=broken))
        await h.load(caller_story())
        ingested = await h.ingest("Receive alert", {"id": 4, "email": "ceo@example.com"})
        await h.drain()
        [(name, status, error)] = job_rows(h, ingested.story_run)
        assert (name, status) == ("Check VIP", "failed")
        assert "ended without reaching an exit action: action 'Is VIP' failed" in error


@pytest.mark.parametrize("target", ["Check VIP", "check vip", "{{ .STORY.check_vip }}", "<<STORY.team.check_vip>>"])
async def test_the_story_option_names_a_story_by_name_tag_or_slug(database_url: str, target: str) -> None:
    async with Harness(database_url) as h:
        await h.load(sub_story())
        await h.load(caller_story(target))
        ingested = await h.ingest("Receive alert", {"id": 5, "email": "ceo@example.com"})
        await h.drain()
        assert [e["action"] for e in h.events(run=ingested.story_run)][-1] == "Decide"


@pytest.mark.parametrize(
    ("target", "message"),
    [("{% story Nope %}", "option 'story': no story 'Nope' is imported"),
     ("{% story Alert triage %}", "story 'Alert triage' is not a sub-story")],
)
async def test_bad_targets_fail_the_action_clearly(database_url: str, target: str, message: str) -> None:
    async with Harness(database_url) as h:
        await h.load(sub_story())
        await h.load(caller_story(target))
        ingested = await h.ingest("Receive alert", {"id": 6, "email": "ceo@example.com"})
        await h.drain()
        [(name, status, error)] = job_rows(h, ingested.story_run)
        assert (name, status) == ("Check VIP", "failed")
        assert message in error
        assert h.events(story="Check VIP") == []


def ping_pong(name: str, other: str, *, send_first: bool = True) -> dict[str, Any]:
    entry = agent(WEBHOOK, f"{name} entry", secret="s")
    send = agent(SEND, f"Send to {other}", story=other, payload={"n": 1})
    out = agent(TRANSFORM, f"{name} out", mode="message_only", payload={"from": name})
    return story(name, [entry, send, out], [(0, 1), (1, 2)] if send_first else [(0, 2)],
                 send_to_story_enabled=True, entry_agent_guid=entry["guid"], exit_agent_guids=[out["guid"]])


async def test_a_static_loop_is_refused_at_import(database_url: str) -> None:
    async with Harness(database_url, worker=False) as h:
        await h.load(ping_pong("Ping", "Pong"))
        with pytest.raises(StoryConflictError, match=r"Send to Story loop: 'Pong' -> 'Ping' -> 'Pong'"):
            await h.load(ping_pong("Pong", "Ping"))


async def test_a_loop_built_at_run_time_is_refused_with_the_chain(database_url: str) -> None:
    async with Harness(database_url, max_attempts=1) as h:
        # The targets are computed, so the importer cannot see the loop.
        ping, pong = ping_pong("Ping", "Pong"), ping_pong("Pong", "Ping")
        for data, other in ((ping, "Pong"), (pong, "Ping")):
            data["agents"][1]["options"]["story"] = "{{ 'X' | replace: 'X', '" + other + "' }}"
        await h.load(ping)
        await h.load(pong)
        ingested = await h.ingest("Ping entry", {})
        await h.drain()
        with h.engine.connect() as conn:
            errors = list(conn.execute(sa.select(t.jobs.c.error).where(t.jobs.c.status == "failed")).scalars())
        assert any("Send to Story loop refused: 'Ping' -> 'Pong' -> 'Ping'" in (e or "") for e in errors), errors
        # Every job ended: the refusal settles each waiting caller up the chain.
        assert {status for _, status, _ in job_rows(h, ingested.story_run)} <= {"done", "failed"}


async def test_a_story_may_send_to_itself_from_an_action_outside_its_sub_story_path(database_url: str) -> None:
    """Tines' "Send to This Story" test action: not reachable from the entry, so no loop."""
    async with Harness(database_url) as h:
        data = ping_pong("Selfie", "Selfie", send_first=False)
        data["agents"][1]["options"]["story"] = "{% story Selfie %}"
        kick = agent(WEBHOOK, "Kick", path="kick", secret="s")
        data["agents"].append(kick)
        data["links"].append({"source": 3, "receiver": 1})
        await h.load(data)
        ingested = await h.ingest("Kick", {})
        await h.drain()
        events = h.events(run=ingested.story_run)
        assert [e["action"] for e in events] == ["Kick", "Send to Selfie"]
        assert events[1]["output"] == {"from": "Selfie"}


# -- storyline run FILE ------------------------------------------------------------------------


async def run_file(tmp_path: Any, database_url: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    path = tmp_path / "story.json"
    path.write_text(json.dumps(data))
    outcome = await run_once(str(path), {"id": 7, "email": "ceo@example.com"}, Settings(database_url=database_url))
    assert outcome.failures == []
    return outcome.events


def stored_events(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(t.events)).scalar_one()
    finally:
        engine.dispose()


async def test_running_a_file_runs_the_sub_story_embedded_in_it(database_url: str, tmp_path: Any) -> None:
    """Tines exports a story with the sub-stories it calls under ``send_to_stories``."""
    events = await run_file(tmp_path, database_url, {**caller_story(), "send_to_stories": [sub_story()]})
    assert [e["action"] for e in events] == ["Receive alert", "Check VIP", "Decide"]
    assert events[-1]["output"] == {"page": "yes", "alert": "7"}


async def test_running_a_file_runs_the_sub_story_already_imported_without_touching_the_database(
    database_url: str, tmp_path: Any
) -> None:
    load_stories(database_url, sub_story("Check VIP"), sub_story("Unrelated"))
    events = await run_file(tmp_path, database_url, caller_story("{{ .STORY.check_vip }}"))
    assert [e["action"] for e in events] == ["Receive alert", "Check VIP", "Decide"]
    assert events[-1]["output"] == {"page": "yes", "alert": "7"}
    assert stored_events(database_url) == 0


def test_export_keeps_send_to_story_options_and_sub_story_keys(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/x.db")
    from storyline.store.db import upgrade

    upgrade(engine)
    caller, _ = parse_story(caller_story(send_payload_as_body="false"))
    sub, _ = parse_story(sub_story())
    with engine.begin() as conn:
        save_story(conn, sub, now=time.time())
        save_story(conn, caller, now=time.time())
        again_sub, again_caller = load_story(conn, "Check VIP"), load_story(conn, "Alert triage")
    exported = json.loads(json.dumps(export_story(again_caller)))
    send = exported["agents"][1]
    assert send["type"] == SEND
    assert send["options"] == {"story": "{% story Check VIP %}", "payload": {"email": "{{.receive_alert.email}}"},
                               "send_payload_as_body": "false"}
    sub_export = export_story(again_sub)
    assert sub_export["send_to_story_enabled"] is True
    assert sub_export["entry_agent_guid"] == sub.entry_agent_guid
    assert sub_export["exit_agent_guids"] == sub.exit_agent_guids
    engine.dispose()

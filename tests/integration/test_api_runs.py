"""``/api/v1/events``, ``/story_runs`` and ``/logs``: what a script reads about what stories did, and re-emit."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.store.db import make_engine, upgrade
from tests.apiclient import Api, api_on
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story
from tests.fakes.httpbin import FakeHttpbin
from tests.support import eventually

FAST = {"worker": True, "retry_base_seconds": 0.05, "sqlite_synchronous": "NORMAL"}


def tagging_story() -> dict[str, Any]:
    return story("Tagging", [
        agent(WEBHOOK, "Receive", path="receive", secret="s3cret", verbs="post"),
        agent(TRANSFORM, "Tag", mode="message_only", payload={"tag": "seen {{.receive.kind}}"}),
    ], [(0, 1)])


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url, tagging_story(), **FAST) as api:
        yield api


def deliver(api: Api, **body: Any) -> None:
    assert api.client.post("/webhook/receive/s3cret", json=body).status_code == 201


def runs_done(api: Api, count: int) -> list[dict[str, Any]]:
    """The newest runs, once ``count`` of them are done."""
    def done() -> list[dict[str, Any]] | None:
        runs = api.get("/api/v1/story_runs?per_page=100", "viewer").json()["story_runs"]
        return runs if sum(run["status"] == "done" for run in runs) >= count else None
    return eventually(done, what="story runs to finish")


def walk(api: Api, url: str, key: str, role: str = "viewer") -> list[dict[str, Any]]:
    """Every item of a paged list, following ``next_page``."""
    items: list[dict[str, Any]] = []
    while url:
        answer = api.get(url, role)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body[key]
        url = body["meta"]["next_page"]
    return items


def test_a_run_reads_with_its_events_in_order_and_an_event_reads_as_its_receivers_saw_it(api: Api) -> None:
    deliver(api, kind="phish")
    [run] = runs_done(api, 1)
    assert run["story_name"] == "Tagging" and run["event_count"] == 2 and run["action_count"] == 2
    assert run["end_time"] >= run["start_time"] and run["failed_jobs_count"] == 0
    detail = api.get(f"/api/v1/story_runs/{run['guid']}", "viewer").json()
    assert [event["action_name"] for event in detail["events"]] == ["Receive", "Tag"]
    assert detail["events"][1]["previous_event_ids"] == [detail["events"][0]["id"]]
    assert detail["failed_jobs"] == [] and detail["events_truncated"] is False
    tag = api.get(f"/api/v1/events/{detail['events'][1]['id']}", "viewer").json()
    # The view: the upstream action's output and the event's own, under each action's key.
    assert tag["payload"] == {"receive": {"kind": "phish"}, "tag": {"tag": "seen phish"}}
    assert tag["agent_id"] == tag["action_id"] and tag["story_run_guid"] == run["guid"]
    assert api.get("/api/v1/story_runs/00000000-0000-0000-0000-000000000000", "viewer").status_code == 404
    assert api.get("/api/v1/events/999999", "viewer").status_code == 404


def test_a_run_whose_only_work_is_due_later_reads_as_waiting_on_that_action(database_url: str) -> None:
    escalate = story("Escalate", [
        agent(WEBHOOK, "Receive", path="esc", secret="s", verbs="post"),
        agent(TRANSFORM, "Wait for an answer", mode="delay", seconds="900"),
    ], [(0, 1)])
    with api_on(database_url, escalate, **FAST) as api:
        assert api.client.post("/webhook/esc/s", json={}).status_code == 201
        run = eventually(lambda: next((r for r in api.get("/api/v1/story_runs", "viewer").json()["story_runs"]
                                       if r["status"] == "waiting"), None), what="the run to wait")
        assert run["waiting_on"]["action"] == "Wait for an answer" and run["pending_jobs"] == 1
        assert run["waiting_on"]["due_at"] > run["start_time"]
        assert api.get(f"/api/v1/story_runs/{run['guid']}", "viewer").json()["status"] == "waiting"


def test_events_page_newest_first_and_every_filter_narrows_them(api: Api) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    for n in range(3):
        deliver(api, kind=f"k{n}")
    runs = runs_done(api, 3)
    events = walk(api, "/api/v1/events?per_page=2", "events")
    ids = [event["id"] for event in events]
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)
    story_id, tag_id = events[0]["story_id"], events[0]["action_id"]
    assert len(walk(api, f"/api/v1/events?story_id={story_id}&per_page=4", "events")) == 6
    assert api.get(f"/api/v1/events?story_id={story_id + 1}", "viewer").json()["events"] == []
    by_action = walk(api, f"/api/v1/events?action_id={tag_id}", "events")
    assert {event["action_name"] for event in by_action} == {"Tag"} and len(by_action) == 3
    one_run = walk(api, f"/api/v1/events?story_run_guid={runs[0]['guid']}", "events")
    assert {event["story_run_guid"] for event in one_run} == {runs[0]["guid"]} and len(one_run) == 2
    assert len(walk(api, f"/api/v1/events?since={before.isoformat().replace('+00:00', 'Z')}", "events")) == 6
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert api.get(f"/api/v1/events?since={later}", "viewer").json()["events"] == []
    assert [e["id"] for e in walk(api, f"/api/v1/events?since_id={ids[2]}", "events")] == ids[:2]


def test_story_runs_page_newest_first_and_filter_by_story(api: Api) -> None:
    for n in range(3):
        deliver(api, kind=f"k{n}")
    runs_done(api, 3)
    runs = walk(api, "/api/v1/story_runs?per_page=1", "story_runs")
    assert len(runs) == 3 and [run["id"] for run in runs] == sorted((run["id"] for run in runs), reverse=True)
    assert api.get(f"/api/v1/story_runs?story_id={runs[0]['story_id'] + 1}", "viewer").json()["story_runs"] == []


def test_reemit_runs_the_receivers_again_in_a_new_run_and_the_audit_log_says_who(api: Api) -> None:
    deliver(api, kind="malware")
    [run] = runs_done(api, 1)
    first = api.get(f"/api/v1/story_runs/{run['guid']}", "viewer").json()["events"][0]
    answer = api.send("POST", f"/api/v1/events/{first['id']}/reemit", "editor")
    assert answer.status_code == 201, answer.text
    again = answer.json()
    assert again["story_run_guid"] != run["guid"] and again["reemitted_event_id"] == first["id"]
    assert again["jobs"] == 1
    runs_done(api, 2)
    tags = walk(api, f"/api/v1/events?story_run_guid={again['story_run_guid']}", "events")
    assert tags[0]["payload"] == {"receive": {"kind": "malware"}, "tag": {"tag": "seen malware"}}
    [entry] = api.get("/api/v1/audit_logs?action=event.reemit").json()["audit_logs"]
    assert entry["actor"] == "token:test-editor" and entry["target"] == f"event {first['id']}"
    assert again["story_run_guid"] in entry["summary"]


def test_reemit_of_an_event_nothing_receives_is_a_409_and_of_no_event_a_404(api: Api) -> None:
    deliver(api, kind="x")
    [run] = runs_done(api, 1)
    last = api.get(f"/api/v1/story_runs/{run['guid']}", "viewer").json()["events"][-1]
    refused = api.send("POST", f"/api/v1/events/{last['id']}/reemit", "editor")
    assert refused.status_code == 409 and "no enabled receivers" in refused.json()["error"]
    assert api.send("POST", "/api/v1/events/99999999/reemit", "editor").status_code == 404
    assert api.send("POST", f"/api/v1/events/{2**70}/reemit", "editor").status_code == 404


def test_logs_filter_by_level_and_a_level_storyline_does_not_write_is_a_422_listing_the_levels(api: Api) -> None:
    bad = api.get("/api/v1/logs?level=fatal", "viewer")
    assert bad.status_code == 422
    assert bad.json()["detail"] == {"parameter": "level", "levels": ["info", "warning", "error"]}
    assert api.get("/api/v1/logs?level=error", "viewer").json() == {
        "logs": [], "meta": {"per_page": 20, "next_cursor": None, "next_page": None}}


# -- credentials never come back ---------------------------------------------------------

SECRET = "vt-api-key-0123456789"


@pytest.fixture
def credential_api(database_url: str, httpbin: FakeHttpbin) -> Iterator[Api]:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        save_credential(conn, Cipher.for_database(database_url), creds.text("vt", SECRET), time.time())
    engine.dispose()
    calls = story("Uses a credential", [
        agent(WEBHOOK, "Receive", path="receive", secret="s3cret", verbs="post"),
        agent(HTTP, "Echo", url="https://httpbin.example/anything", method="post", content_type="json",
              headers={"x-apikey": "{% credential vt %}"}, payload={"token": "{{.CREDENTIAL.vt}}"}),
        agent(HTTP, "Refused", url="https://httpbin.example/anything/refused", method="get",
              fail_on_status="true", headers={"x-apikey": "{% credential vt %}"}),
    ], [(0, 1), (0, 2)])
    httpbin.fail(500, path="/anything/refused", body=f"bad key {SECRET}", times=None)
    with api_on(database_url, calls, **FAST,
                egress_overrides={"httpbin.example": httpbin.url}) as api:
        yield api


def test_no_answer_about_a_run_that_used_a_credential_holds_its_value(credential_api: Api) -> None:
    api = credential_api
    deliver(api, kind="x")
    run = eventually(lambda: next((r for r in api.get("/api/v1/story_runs", "viewer").json()["story_runs"]
                                   if r["status"] == "failed"), None), what="the run to fail")
    detail = api.get(f"/api/v1/story_runs/{run['guid']}", "viewer")
    [failed] = detail.json()["failed_jobs"]
    assert failed["action_name"] == "Refused" and failed["attempts"] >= 1 and "[credential:vt]" in failed["error"]
    answers = [detail, api.get("/api/v1/events", "viewer"), api.get("/api/v1/logs", "viewer")]
    answers += [api.get(f"/api/v1/events/{event['id']}", "viewer") for event in detail.json()["events"]]
    echoed = next(a.json() for a in answers[3:] if a.json()["action_name"] == "Echo")
    assert echoed["payload"]["echo"]["body"]["json"] == {"token": "[credential:vt]"}
    assert {log["level"] for log in api.get("/api/v1/logs", "viewer").json()["logs"]} >= {"error"}
    for answer in answers:
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert SECRET not in answer.text and SECRET not in orjson.dumps(answer.json()).decode()


@pytest.mark.parametrize("guid", ["x" * 37, "not-a-guid!", "g0"])
def test_a_story_run_guid_that_cannot_be_one_is_a_404_on_the_api_and_the_console(api: Api, guid: str) -> None:
    answer = api.get(f"/api/v1/story_runs/{guid}", "viewer")
    assert answer.status_code == 404 and "hexadecimal" in answer.json()["error"]
    assert api.get(f"/runs/{guid}", "viewer").status_code == 404
    assert api.get("/runs/a%00b", "viewer").status_code == 404


def test_a_nul_byte_in_any_name_in_an_api_path_is_never_a_server_error(api: Api) -> None:
    from storyline.web.api import ENDPOINTS

    for endpoint in ENDPOINTS:
        path = re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: "1" if m.group(2) == "int" else "a%00b", endpoint.full_path)
        if "%00" in path:
            answer = api.send(endpoint.method, path, "admin", json={})
            assert answer.status_code == 422 and "NUL" in answer.json()["error"], (endpoint.method, path)
    assert api.get("/api/v1/audit_logs?actor=a%00b", "admin").status_code == 422

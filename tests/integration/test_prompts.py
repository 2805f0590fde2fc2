"""Prompts as a person meets them: a link in a message, clicked, driving the story on.

Each test runs the real Starlette app with its worker: the story posts a message
whose links are ``{% prompt STATUS %}`` URLs, the test opens one, and the action that
rendered it emits ``{"prompt": {"status": ...}}`` in the same story run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.engine import retention
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.store.queries import list_events
from storyline.web.app import create_app
from tests.builders import HTTP, TRANSFORM, TRIGGER, WEBHOOK, agent, approval_story, story
from tests.fakes.httpbin import FakeHttpbin
from tests.harness import load_stories
from tests.support import eventually

PUBLIC = "https://storyline.example"


class Clicker:
    """The app with its worker, and the database it writes, seen from the test."""

    def __init__(self, client: TestClient, database_url: str) -> None:
        self.client = client
        self.engine = make_engine(database_url)

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return list_events(conn, action=action, limit=10_000)

    def settled(self) -> None:
        def idle() -> bool:
            with self.engine.connect() as conn:
                j = t.jobs.c
                return not conn.execute(
                    sa.select(sa.func.count()).where(j.status.in_(("queued", "running")))
                ).scalar_one()

        eventually(idle, what=self.events)

    def open(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        assert url.startswith(f"{PUBLIC}/prompt?"), url
        parts = urlsplit(url)
        return self.client.request(method, f"{parts.path}?{parts.query}", **kwargs)


@pytest.fixture
def clicker(database_url: str, bin_server: FakeHttpbin) -> Iterator[Clicker]:
    load_stories(database_url, approval_story(), prompt_timer_story())
    settings = Settings(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05,
                        sqlite_synchronous="NORMAL", egress_overrides={"slack.example": bin_server.url})
    with TestClient(create_app(settings)) as client:
        clicker = Clicker(client, database_url)
        yield clicker
        clicker.engine.dispose()


def ask(clicker: Clicker, ip: str = "10.0.0.1") -> dict[str, Any]:
    assert clicker.client.post("/webhook/alert/s", json={"ip": ip}).status_code == 201
    return eventually(lambda: [e for e in clicker.events("Ask analyst") if e["payload"]["receive_alert"]["ip"] == ip],
                      what=clicker.events)[0]


def test_a_click_makes_the_action_emit_its_status_in_the_same_story_run(clicker: Clicker) -> None:
    asked = ask(clicker)
    response = clicker.open(asked["output"]["yes"])
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "block" in response.text and "recorded" in response.text
    # Durable before the answer: the prompt event is already there.
    prompted = [e for e in clicker.events("Ask analyst") if "prompt" in e["output"]]
    assert len(prompted) == 1
    prompt = prompted[0]["output"]["prompt"]
    assert prompt["status"] == "block" and prompt["event_id"] > 0 and prompt["answered_at"].endswith("Z")
    assert prompted[0]["story_run"] == asked["story_run"]
    # ... on top of the upstream context of the event that rendered the link.
    assert prompted[0]["payload"]["receive_alert"] == {"ip": "10.0.0.1"}
    [report] = eventually(lambda: clicker.events("Report"), what=clicker.events)
    assert report["output"] == {"ip": "10.0.0.1", "answer": "block", "run": asked["story_run"]}
    assert report["story_run"] == asked["story_run"]


def test_the_other_answer_does_not_fire_the_trigger(clicker: Clicker) -> None:
    asked = ask(clicker)
    assert clicker.open(asked["output"]["no"]).status_code == 200
    clicker.settled()
    assert [e["output"]["prompt"]["status"] for e in clicker.events("Ask analyst") if "prompt" in e["output"]] == [
        "ignore"]
    assert clicker.events("Blocked") == []


def test_buttons_that_post_work_too(clicker: Clicker) -> None:
    asked = ask(clicker)
    response = clicker.open(asked["output"]["yes"], "POST", json={"type": "Action.Submit"})
    assert response.status_code == 200
    eventually(lambda: clicker.events("Report"), what=clicker.events)


def test_the_same_answer_twice_is_recorded_once_and_another_answer_is_recorded(clicker: Clicker) -> None:
    asked = ask(clicker)
    first = clicker.open(asked["output"]["yes"])
    again = clicker.open(asked["output"]["yes"])
    assert first.status_code == again.status_code == 200
    assert "already recorded" in again.text
    assert clicker.open(asked["output"]["no"]).status_code == 200
    clicker.settled()
    statuses = [e["output"]["prompt"]["status"] for e in clicker.events("Ask analyst") if "prompt" in e["output"]]
    assert statuses == ["block", "ignore"]
    assert len(clicker.events("Report")) == 1


def test_each_run_answers_for_itself(clicker: Clicker) -> None:
    first, second = ask(clicker, "10.0.0.1"), ask(clicker, "10.0.0.2")
    clicker.open(second["output"]["yes"])
    [report] = eventually(lambda: clicker.events("Report"), what=clicker.events)
    assert report["output"]["ip"] == "10.0.0.2" and report["story_run"] == second["story_run"]
    assert report["story_run"] != first["story_run"]


def _tamper(url: str, old: str, new: str) -> str:
    assert old in url
    return url.replace(old, new)


@pytest.mark.parametrize(
    "change",
    [
        lambda url: _tamper(url, "s=block", "s=ignore"),  # another status
        lambda url: _tamper(url, "e=", "e=9"),  # another event
        lambda url: _tamper(url, "a=", "a=1"),  # another action
        lambda url: _tamper(url, "r=", "r=0"),  # another story run
        lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"),  # another signature
        lambda url: url.split("&sig=")[0],  # no signature
        lambda url: url.split("?")[0] + "?e=1&a=1&s=x&r=y&sig=zz",  # forged from scratch
    ],
)
def test_a_forged_or_tampered_url_is_refused_and_records_nothing(
    clicker: Clicker, change: Callable[[str], str]
) -> None:
    asked = ask(clicker)
    clicker.settled()
    before = clicker.events()
    response = clicker.open(change(asked["output"]["yes"]))
    assert response.status_code == 403
    assert "not valid" in response.text
    clicker.settled()
    assert clicker.events() == before


def test_a_prompt_of_a_purged_event_says_so(clicker: Clicker) -> None:
    asked = ask(clicker)
    clicker.settled()
    with clicker.engine.begin() as conn:
        assert retention.purge(conn, time.time() + 10 * 365 * 86400) > 0
    response = clicker.open(asked["output"]["yes"])
    assert response.status_code == 410
    assert "expired" in response.text
    clicker.settled()
    assert clicker.events() == []


def test_link_previews_and_head_requests_do_not_answer(clicker: Clicker) -> None:
    asked = ask(clicker)
    url = asked["output"]["yes"]
    assert clicker.open(url, "HEAD").status_code == 200
    preview = clicker.open(url, headers={"user-agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"})
    assert preview.status_code == 200
    clicker.settled()
    assert [e for e in clicker.events("Ask analyst") if "prompt" in e["output"]] == []


# -- the "wait for a human or time out" pattern (Tines' Prompt Timer / chatops stories) --


def prompt_timer_story(delay: int = 3) -> dict[str, Any]:
    """The shape of the chatops story: message with prompts, racing a delay into a dedupe by story run."""
    status = "{{ .send_slack_message.prompt.status }}"
    return story("Prompt timer", [
        agent(WEBHOOK, "Receive STS", path="timer", secret="t", verbs="post"),
        agent(HTTP, "Send Slack Message", method="post", content_type="json",
              url="https://slack.example/anything/api/chat.postMessage",
              payload={"channel": "{{.receive_sts.user}}", "blocks": [{"type": "actions", "elements": [
                  {"type": "button", "url": "{% prompt positive %}"},
                  {"type": "button", "url": "{% prompt negative %}"}]}]}),
        agent(TRIGGER, "Catch Prompt", rules=[{"type": "!regex", "value": "^$", "path": status}]),
        agent(TRANSFORM, "Delay Event", mode="delay", seconds=str(delay)),
        agent(TRANSFORM, "Deduplicate Events", mode="deduplicate", period="3700", path="{% story_run_guid %}"),
        agent(TRIGGER, "If Response", rules=[{"type": "!regex", "value": "^$", "path": status}]),
        agent(TRIGGER, "No Response", rules=[{"type": "regex", "value": "^$", "path": status}]),
        agent(TRANSFORM, "Format Return", mode="message_only", payload={"result": status}),
        agent(TRANSFORM, "Format Timeout", mode="message_only", payload={"result": "no_response"}),
    ], [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (4, 6), (5, 7), (6, 8)])


def test_an_answer_beats_the_timeout_and_silence_times_out(clicker: Clicker, httpbin: FakeHttpbin) -> None:
    for user in ("U1", "U2"):
        assert clicker.client.post("/webhook/timer/t", json={"user": user}).status_code == 201
    sent = eventually(lambda: len(httpbin.calls) >= 2 and httpbin.calls, what=clicker.events)
    messages = {call.json()["channel"]: call.json() for call in sent}
    # U1 answers through the link in the message Slack received; U2 never does.
    answer = messages["U1"]["blocks"][0]["elements"][0]["url"]
    assert clicker.open(answer).status_code == 200
    eventually(lambda: clicker.events("Format Return"), what=clicker.events)
    eventually(lambda: clicker.events("Format Timeout"), timeout=30, what=clicker.events)
    clicker.settled()  # both delays have fired into the dedupe by now
    runs = {e["payload"]["receive_sts"]["user"]: e["story_run"] for e in clicker.events("Receive STS")}
    [answered] = clicker.events("Format Return")
    [timed_out] = clicker.events("Format Timeout")
    assert answered["output"] == {"result": "positive"} and answered["story_run"] == runs["U1"]
    assert timed_out["output"] == {"result": "no_response"} and timed_out["story_run"] == runs["U2"]
    # U1's delays (of the message and of the answer) reached the dedupe and stopped there.
    assert len([e for e in clicker.events("Delay Event") if e["story_run"] == runs["U1"]]) == 2
    assert len(clicker.events("Deduplicate Events")) == 2

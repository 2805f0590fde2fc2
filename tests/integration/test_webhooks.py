"""Webhooks as a client sees them: answers, refusals, and what gets recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.app import create_app
from tests.builders import WEBHOOK, agent, slash_command_story, story
from tests.harness import load_stories

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    echo = story("Echo", [agent(WEBHOOK, "Echo hook", path="echo", secret="abc", verbs="get,post",
                                include_headers="true", response_headers={"X-Story": "echo"})], [])
    load_stories(database_url, slash_command_story(), echo)
    app = create_app(Settings(database_url=database_url, max_body_bytes=64 * 1024), worker=False)
    with TestClient(app) as test_client:
        test_client.events = lambda: _events(database_url)  # type: ignore[attr-defined]
        yield test_client


def _events(url: str) -> list[dict]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.events.c.payload).order_by(t.events.c.id)).scalars().all()
    engine.dispose()
    return list(rows)


def test_a_slash_command_gets_its_templated_answer_and_is_recorded(client: TestClient) -> None:
    response = client.post("/webhook/analyze/s3cret", content="user_name=alice&command=%2Fanalyzedomain&text=x.com",
                           headers={"content-type": FORM})
    assert response.status_code == 200
    assert response.text == "Hi alice! Thanks for submitting your /analyzedomain request, we're analyzing now"
    assert client.events() == [  # type: ignore[attr-defined]
        {"receive_commands": {"user_name": "alice", "command": "/analyzedomain", "text": "x.com"}}]


def test_json_body_query_and_headers(client: TestClient) -> None:
    response = client.post("/webhook/echo/abc?source=siem", json={"alert": {"id": 7}})
    assert response.status_code == 201 and response.text == "Ok"
    assert response.headers["x-story"] == "echo"
    [event] = client.events()  # type: ignore[attr-defined]
    assert event["echo_hook"]["body"] == {"source": "siem", "alert": {"id": 7}}
    assert event["echo_hook"]["headers"]["content-type"] == "application/json"


def test_get_with_query_parameters(client: TestClient) -> None:
    assert client.get("/webhook/echo/abc?ip=1.2.3.4").status_code == 201
    assert client.events()[0]["echo_hook"]["body"] == {"ip": "1.2.3.4"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "message"),
    [
        ("post", "/webhook/nope/abc", {}, 404, "no webhook at this URL, or not with this secret"),
        ("post", "/webhook/echo/wrong", {}, 404, "no webhook at this URL, or not with this secret"),
        ("put", "/webhook/echo/abc", {}, 405, "accepts GET, POST"),
        ("post", "/webhook/echo/abc", {"content": b"{not json", "headers": {"content-type": "application/json"}},
         400, "not valid JSON"),
        ("post", "/webhook/echo/abc", {"content": b"\xff\xfe\x00bad", "headers": {"content-type": "text/plain"}},
         400, "not UTF-8"),
        ("post", "/webhook/echo/abc", {"content": b"x" * (65 * 1024)}, 413, "larger than the 65536 byte limit"),
    ],
)
def test_bad_requests_are_refused_with_a_reason_and_record_nothing(
    client: TestClient, method: str, url: str, kwargs: dict, status: int, message: str
) -> None:
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert client.events() == []  # type: ignore[attr-defined]
    # ... and the server still works.
    assert client.post("/webhook/echo/abc", json={"ok": 1}).status_code == 201


def test_plain_text_body_is_kept_as_text(client: TestClient) -> None:
    client.post("/webhook/echo/abc", content=b"hello", headers={"content-type": "text/plain"})
    assert client.events()[0]["echo_hook"]["body"] == {"body": "hello"}  # type: ignore[attr-defined]


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "worker": False, "checks": {"database": "ok"}}


def test_a_request_the_database_cannot_record_gets_503_and_retry_after(
    client: TestClient, database_url: str
) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:  # the events table out of the way: recording the request fails
        conn.exec_driver_sql("ALTER TABLE events RENAME TO events_away")
    response = client.post("/webhook/echo/abc", json={"alert": 1})
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE events_away RENAME TO events")
    engine.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "nothing was recorded, send it again" in response.json()["error"]
    assert client.events() == []  # type: ignore[attr-defined]

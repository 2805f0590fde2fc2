"""What anyone who can reach the server sees: the index, health, refusals, headers, stored requests."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.app import create_app
from tests.builders import WEBHOOK, agent, slash_command_story, story
from tests.harness import load_stories

SECRET = "hook-secret-4c1f9a"


def echo_story() -> dict:
    return story("Echo", [agent(WEBHOOK, "Echo hook", path="echo", secret=SECRET, verbs="get,post",
                                include_headers="true")], [])


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    load_stories(database_url, slash_command_story(), echo_story())
    app = create_app(Settings(database_url=database_url, max_body_bytes=8 * 1024), worker=False)
    with TestClient(app) as test_client:
        yield test_client


def events(database_url: str) -> list[dict]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.events.c.payload).order_by(t.events.c.id)).scalars().all()
    engine.dispose()
    return list(rows)


# -- the index -------------------------------------------------------------------------------------


def test_the_index_shows_no_webhook_url_or_secret_only_what_this_server_is(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    for secret_or_path in (SECRET, "s3cret", "/webhook/", "echo", "analyze", "Slash command", "Echo hook"):
        assert secret_or_path not in page
    assert "storyline server" in page and "README" in page and "Serving on a network" in page


# -- refusals that say nothing about what exists -----------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_path_and_a_wrong_secret_are_answered_alike(client: TestClient, method: str) -> None:
    unknown = [getattr(client, method)(url) for url in ("/webhook/nope/x", "/webhook/nope")]
    wrong = [getattr(client, method)(url) for url in ("/webhook/echo/x", "/webhook/echo")]
    wrong.append(getattr(client, method)("/webhook/echo", headers={"authorization": "Bearer x"}))
    answers = {(r.status_code, r.text) for r in unknown + wrong}
    assert len(answers) == 1, answers
    assert answers.pop()[0] == 404


# -- headers on every answer -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/prompt?e=1&a=1&r=x&s=ok&sig=forged", "/healthz", "/webhook/nope/x"])
def test_every_answer_forbids_framing_sniffing_referrers_and_anything_but_its_own_style(
    client: TestClient, url: str
) -> None:
    headers = client.get(url).headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_a_webhooks_own_response_headers_win(database_url: str) -> None:
    hook = agent(WEBHOOK, "Framed", path="framed", secret="s", response_headers={"X-Frame-Options": "SAMEORIGIN"})
    load_stories(database_url, story("Framed", [hook], []))
    with TestClient(create_app(Settings(database_url=database_url), worker=False)) as client:
        response = client.post("/webhook/framed/s", json={})
    assert response.status_code == 201
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]


# -- what a stored request keeps ----------------------------------------------------------------------


def test_credentials_signatures_and_the_secret_are_not_stored_with_the_request(
    client: TestClient, database_url: str
) -> None:
    sent = {
        "authorization": f"Bearer {SECRET}", "proxy-authorization": "Basic dXNlcjpwYXNz",
        "cookie": "session=abc", "x-slack-signature": "v0=deadbeef", "x-hub-signature-256": "sha256=beef",
        "x-gitlab-token": "glpat", "x-api-key": "key", "x-forwarded-secret": SECRET,
        "x-request-id": "req-7", "user-agent": "sender/1.0",
    }
    response = client.post(f"/webhook/echo?token={SECRET}&source=siem", json={"alert": 1}, headers=sent)
    assert response.status_code == 201
    [event] = events(database_url)
    stored = event["echo_hook"]
    assert stored["body"] == {"source": "siem", "alert": 1}
    assert stored["headers"]["x-request-id"] == "req-7" and stored["headers"]["user-agent"] == "sender/1.0"
    for name in ("authorization", "proxy-authorization", "cookie", "x-slack-signature", "x-hub-signature-256",
                 "x-gitlab-token", "x-api-key", "x-forwarded-secret"):
        assert name not in stored["headers"]
    assert SECRET not in str(event)


def test_stored_headers_count_against_the_body_limit(client: TestClient, database_url: str) -> None:
    # 8 KiB in all: a 5 KiB header and a 4 KiB body are too much together, though each fits alone.
    header = {"x-padding": "h" * 5 * 1024}
    body = {"text": "b" * 4 * 1024}
    assert client.post(f"/webhook/echo/{SECRET}", json={"ok": 1}, headers=header).status_code == 201
    assert client.post(f"/webhook/echo/{SECRET}", json=body).status_code == 201
    refused = client.post(f"/webhook/echo/{SECRET}", json=body, headers=header)
    assert refused.status_code == 413
    assert "larger than the 8192 byte limit less the" in refused.json()["error"]
    assert len(events(database_url)) == 2


# -- readiness ---------------------------------------------------------------------------------------


def _read_only(database_url: str) -> str:
    """The same database, opened so that it reads but refuses every write (a read-only file or replica)."""
    if database_url.startswith("sqlite:///"):
        return f"sqlite:///file:{database_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return database_url + quote(" -cdefault_transaction_read_only=on", safe="-")


def test_health_is_unavailable_and_says_why_while_the_database_takes_no_writes(database_url: str) -> None:
    load_stories(database_url, echo_story())
    with TestClient(create_app(Settings(database_url=_read_only(database_url)), worker=False)) as client:
        health = client.get("/healthz")
        webhook = client.post(f"/webhook/echo/{SECRET}", json={"alert": 1})
    assert webhook.status_code == 503  # what /healthz must predict
    assert health.status_code == 503, health.text
    body = health.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("does not take writes: ")
    assert "read" in body["checks"]["database"]  # SQLite: "readonly database"; PostgreSQL: "read-only transaction"

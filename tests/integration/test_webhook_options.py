"""Webhook options beyond path and secret, as a sender sees them: verification, rules, rate limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.app import create_app
from tests.builders import WEBHOOK, agent, story
from tests.harness import load_stories
from tests.support import eventually

HMAC = {"type": "hmac", "header": "X-Hub-Signature-256", "secret": "hook-secret", "prefix": "sha256="}


def hooks() -> dict[str, Any]:
    return story("Hooks", [
        agent(WEBHOOK, "Signed", path="signed", verification=HMAC),
        agent(WEBHOOK, "Signed b64", path="signed-b64",
              verification={"type": "hmac", "header": "X-Signature", "secret": "k", "algorithm": "sha1",
                            "encoding": "base64"}),
        agent(WEBHOOK, "Signed with credential", path="signed-cred",
              verification={**HMAC, "secret": "{% credential nope %}"}),
        agent(WEBHOOK, "Signed with nothing", path="signed-empty",
              verification={**HMAC, "secret": "{{ .not_there }}"}),
        agent(WEBHOOK, "Alerts", path="alerts", secret="a", rules=[
            {"type": "regex", "path": "{{.alerts.severity}}", "value": "^(high|critical)$"},
            {"type": "field==value", "path": "{{.alerts.source}}", "value": "edr"}]),
        agent(WEBHOOK, "Strict", path="strict", secret="a", must_match="2", rules=[
            {"type": "regex", "path": "{{.strict.severity}}", "value": "high"},
            {"type": "field==value", "path": "{{.strict.source}}", "value": "edr"}]),
        agent(WEBHOOK, "Limited", path="limited", secret="a", rate_limit={"count": 2, "period": 60}),
        agent(WEBHOOK, "Per user", path="per-user", secret="a",
              rate_limit={"count": "1", "period": "60", "key": "{{.per_user.user}}"}),
        agent(WEBHOOK, "Brief", path="brief", secret="a", rate_limit={"count": 1, "period": 1}),
    ], [])


class Sender:
    def __init__(self, client: TestClient, database_url: str) -> None:
        self.client = client
        self.database_url = database_url

    def events(self, action: str) -> list[dict[str, Any]]:
        engine = make_engine(self.database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.events.c.payload).join(t.actions, t.actions.c.id == t.events.c.action_id)
                .where(t.actions.c.name == action).order_by(t.events.c.id)
            ).scalars().all()
        engine.dispose()
        return list(rows)


def app(database_url: str) -> Any:
    return create_app(Settings(database_url=database_url), worker=False)


@pytest.fixture
def sender(database_url: str) -> Iterator[Sender]:
    load_stories(database_url, hooks())
    with TestClient(app(database_url)) as client:
        yield Sender(client, database_url)


def sign(body: bytes, secret: str = "hook-secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- verification ---------------------------------------------------------------------


def test_a_correctly_signed_request_is_recorded(sender: Sender) -> None:
    body = json.dumps({"action": "opened", "number": 7}).encode()
    response = sender.client.post("/webhook/signed", content=body, headers={
        "content-type": "application/json", "x-hub-signature-256": sign(body)})
    assert response.status_code == 201
    assert sender.events("Signed") == [{"signed": {"action": "opened", "number": 7}}]


def test_base64_signatures_and_other_algorithms(sender: Sender) -> None:
    body = b"a=1&b=2"
    signature = base64.b64encode(hmac.new(b"k", body, hashlib.sha1).digest()).decode()
    response = sender.client.post("/webhook/signed-b64", content=body, headers={
        "content-type": "application/x-www-form-urlencoded", "x-signature": signature})
    assert response.status_code == 201
    assert sender.events("Signed b64") == [{"signed_b64": {"a": "1", "b": "2"}}]


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({}, b'{"a": 1}', "missing signature header X-Hub-Signature-256"),
        ({"x-hub-signature-256": sign(b'{"a": 1}', "wrong-secret")}, b'{"a": 1}', "does not match"),
        # Signed for another body (the JSON re-serialised): the raw bytes are what count.
        ({"x-hub-signature-256": sign(b'{"a":1}')}, b'{"a": 1}', "does not match"),
        ({"x-hub-signature-256": sign(b'{"a": 1}')[7:]}, b'{"a": 1}', "does not match"),  # no prefix
    ],
)
def test_a_request_that_fails_verification_gets_401_and_records_nothing(
    sender: Sender, headers: dict[str, str], body: bytes, message: str
) -> None:
    response = sender.client.post("/webhook/signed", content=body,
                                  headers={"content-type": "application/json", **headers})
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert "hook-secret" not in response.text
    assert sender.events("Signed") == []


def test_an_undefined_credential_as_secret_is_a_clear_error_not_a_pass(sender: Sender) -> None:
    body = b"{}"
    response = sender.client.post("/webhook/signed-cred", content=body, headers={
        "content-type": "application/json", "x-hub-signature-256": sign(body)})
    assert response.status_code == 500
    error = response.json()["error"]
    assert "Signed with credential" in error and "verification.secret" in error
    assert "credential 'nope' is not defined" in error
    assert sender.events("Signed with credential") == []


def test_a_secret_that_renders_empty_refuses_rather_than_accepts(sender: Sender) -> None:
    body = b"{}"
    empty_key_signature = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()
    response = sender.client.post("/webhook/signed-empty", content=body, headers={
        "content-type": "application/json", "x-hub-signature-256": empty_key_signature})
    assert response.status_code == 500
    assert "option 'verification.secret' rendered empty" in response.json()["error"]
    assert sender.events("Signed with nothing") == []


# -- rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "recorded"),
    [
        ({"severity": "critical", "source": "siem"}, True),
        ({"severity": "low", "source": "edr"}, True),
        ({"severity": "low", "source": "siem"}, False),
        ({}, False),
    ],
)
def test_rules_admit_a_request_matching_any_of_them(sender: Sender, body: dict[str, str], recorded: bool) -> None:
    response = sender.client.post("/webhook/alerts/a", json=body)
    if recorded:
        assert response.status_code == 201
        assert sender.events("Alerts") == [{"alerts": body}]
    else:
        assert response.status_code == 200 and response.text == "No rules matched"
        assert sender.events("Alerts") == []


def test_must_match_asks_for_more_rules(sender: Sender) -> None:
    assert sender.client.post("/webhook/strict/a", json={"severity": "high", "source": "siem"}).text == (
        "No rules matched")
    assert sender.client.post("/webhook/strict/a", json={"severity": "high", "source": "edr"}).status_code == 201
    assert len(sender.events("Strict")) == 1


# -- rate limit --------------------------------------------------------------------------------


def test_over_the_rate_limit_is_answered_429_with_retry_after(sender: Sender) -> None:
    answers = [sender.client.post("/webhook/limited/a", json={"n": n}) for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert 1 <= int(answers[2].headers["retry-after"]) <= 60
    assert "rate limit of 2 request(s) per 60s exceeded" in answers[2].json()["error"]
    assert sender.events("Limited") == [{"limited": {"n": 0}}, {"limited": {"n": 1}}]


def test_a_key_gives_each_sender_its_own_window(sender: Sender) -> None:
    statuses = [sender.client.post("/webhook/per-user/a", json={"user": user}).status_code
                for user in ("ana", "ana", "bob")]
    assert statuses == [201, 429, 201]


def test_the_window_slides(sender: Sender) -> None:
    assert sender.client.post("/webhook/brief/a").status_code == 201
    refused = sender.client.post("/webhook/brief/a")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    # Refused requests take no place in the window: the next one in goes once the first is a second old.
    eventually(lambda: sender.client.post("/webhook/brief/a").status_code == 201, 10, "a request admitted again")


def test_web_nodes_sharing_a_database_share_the_limit(sender: Sender) -> None:
    with TestClient(app(sender.database_url)) as other:
        assert sender.client.post("/webhook/limited/a").status_code == 201
        assert other.post("/webhook/limited/a").status_code == 201
        assert other.post("/webhook/limited/a").status_code == 429
        assert sender.client.post("/webhook/limited/a").status_code == 429


"""A webhook with ``verification: {"type": "slack"}``, as Slack (and an attacker) sees it.

Slack signs every request with the app's signing secret; anything it did not sign,
or signed more than five minutes ago, is refused with 401 and records nothing. Its
handshakes are answered without an event, and its retries are recorded once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.app import create_app
from tests.builders import WEBHOOK, agent, story
from tests.fakes.slack import FakeSlack
from tests.harness import load_stories

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VERIFICATION = {"type": "slack", "signing_secret": "{% credential slack_signing_secret %}"}
FORM = "application/x-www-form-urlencoded"

SLASH = {
    "token": "legacy-verification-token", "team_id": "T0001", "team_domain": "example",
    "channel_id": "C2147483705", "channel_name": "soc", "user_id": "U2147483697", "user_name": "ana",
    "command": "/analyzedomain", "text": "example.com",
    "response_url": "https://hooks.slack.com/commands/T0001/1234/abcd",
    "trigger_id": "13345224609.738474920.8088930838d88f008e0", "api_app_id": "A123",
}

CLICK = {
    "type": "block_actions", "token": "legacy-verification-token",
    "user": {"id": "U0ANA", "username": "ana", "name": "ana", "team_id": "T0001"},
    "api_app_id": "A123",
    "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C111"},
    "trigger_id": "111.222.valid", "team": {"id": "T0001", "domain": "example"},
    "channel": {"id": "C111", "name": "soc"},
    "response_url": "https://hooks.slack.com/actions/T0001/111/random-value",
    "actions": [{"action_id": "approve", "block_id": "decision", "type": "button", "value": "run-123",
                 "text": {"type": "plain_text", "text": "Approve"}, "action_ts": "1700000100.194939"}],
}


def event(event_id: str = "Ev111", text: str = "<@W111> analyze example.com") -> dict[str, Any]:
    return {"token": "legacy-verification-token", "team_id": "T0001", "api_app_id": "A123",
            "event": {"type": "app_mention", "text": text, "user": "U0ANA", "ts": "1595926230.009600",
                      "channel": "C111", "event_ts": "1595926230.009600"},
            "type": "event_callback", "event_id": event_id, "event_time": 1595926230}


class Slack:
    """Slack's side of the wire: signs what it sends, like the real service."""

    def __init__(self, client: TestClient, database_url: str) -> None:
        self.client = client
        self.database_url = database_url
        self.signer = FakeSlack(signing_secret=SECRET)

    def post(self, body: bytes | str, content_type: str = FORM, *, path: str = "slack",
             timestamp: float | None = None, secret: str | None = None, **headers: str) -> Any:
        raw = body.encode() if isinstance(body, str) else body
        signer = self.signer if secret is None else FakeSlack(signing_secret=secret)
        signed = signer.signed(raw, timestamp)
        return self.client.post(f"/webhook/{path}", content=raw,
                                headers={"content-type": content_type, **signed, **headers})

    def command(self, **fields: str) -> Any:
        return self.post(urlencode({**SLASH, **fields}))

    def events(self, action: str = "Slack in") -> list[dict[str, Any]]:
        engine = make_engine(self.database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.events.c.payload).join(t.actions, t.actions.c.id == t.events.c.action_id)
                .where(t.actions.c.name == action).order_by(t.events.c.id)
            ).scalars().all()
        engine.dispose()
        return list(rows)


def slack_story() -> dict[str, Any]:
    return story("Slack bot", [
        agent(WEBHOOK, "Slack in", path="slack", verification=VERIFICATION),
        agent(WEBHOOK, "Slack answers", path="slack-answers", verification=VERIFICATION,
              response='{"response_type": "ephemeral", "text": "Looking into {{.text}}"}', response_code="200"),
        agent(WEBHOOK, "Slack rotated", path="slack-rotated",
              verification={"type": "slack", "signing_secret": ["new-secret", SECRET]}),
        agent(WEBHOOK, "Slack misconfigured", path="slack-nocred",
              verification={"type": "slack", "signing_secret": "{% credential missing %}"}),
    ], [])


@pytest.fixture
def slack_in(database_url: str) -> Iterator[Slack]:
    load_stories(database_url, slack_story())
    engine = make_engine(database_url)
    with engine.begin() as conn:
        save_credential(conn, Cipher.for_database(database_url),
                              creds.text("slack_signing_secret", SECRET), time.time())
    engine.dispose()
    with TestClient(create_app(Settings(database_url=database_url, max_body_bytes=4096), worker=False)) as client:
        yield Slack(client, database_url)


# -- what Slack sends becomes an ordinary event ------------------------------------------------


def test_a_slash_command_is_acknowledged_empty_and_recorded_as_its_form_fields(slack_in: Slack) -> None:
    response = slack_in.command()
    # An empty 200 is a pure ack: any text would be shown to the user as the bot's reply.
    assert response.status_code == 200 and response.text == ""
    [recorded] = slack_in.events()
    fields = recorded["slack_in"]
    assert fields["command"] == "/analyzedomain" and fields["text"] == "example.com"
    assert fields["user_name"] == "ana" and fields["response_url"] == SLASH["response_url"]
    assert "token" not in fields  # Slack's legacy verification token is a secret: never in events


def test_a_webhook_response_answers_the_slash_command_in_slack(slack_in: Slack) -> None:
    response = slack_in.post(urlencode(SLASH), path="slack-answers")
    assert response.status_code == 200
    assert response.json() == {"response_type": "ephemeral", "text": "Looking into example.com"}


def test_url_verification_is_answered_with_its_challenge_and_records_nothing(slack_in: Slack) -> None:
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    response = slack_in.post(body, "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert slack_in.events() == []


def test_ssl_check_is_answered_and_records_nothing(slack_in: Slack) -> None:
    response = slack_in.post("ssl_check=1&token=t")
    assert response.status_code == 200 and response.text == ""
    assert slack_in.events() == []


def test_an_events_api_event_is_recorded_without_the_token(slack_in: Slack) -> None:
    response = slack_in.post(json.dumps(event()), "application/json")
    assert response.status_code == 200
    [recorded] = slack_in.events()
    assert recorded["slack_in"]["event"]["text"] == "<@W111> analyze example.com"
    assert recorded["slack_in"]["event_id"] == "Ev111" and "token" not in recorded["slack_in"]


def test_a_button_click_says_which_button_who_clicked_and_when(slack_in: Slack) -> None:
    response = slack_in.post(urlencode({"payload": json.dumps(CLICK)}))
    assert response.status_code == 200 and response.text == ""
    [recorded] = slack_in.events()
    click = recorded["slack_in"]
    assert {k: click[k] for k in ("type", "action_id", "block_id", "value", "button", "user_id", "user_name",
                                  "channel_id", "response_url")} == {
        "type": "block_actions", "action_id": "approve", "block_id": "decision", "value": "run-123",
        "button": "Approve", "user_id": "U0ANA", "user_name": "ana", "channel_id": "C111",
        "response_url": "https://hooks.slack.com/actions/T0001/111/random-value"}
    assert click["clicked_at"].startswith("2023-11-14T22:15:00")
    assert click["actions"][0]["value"] == "run-123" and "token" not in click


def test_a_rotated_secret_and_its_successor_both_verify(slack_in: Slack) -> None:
    assert slack_in.post(urlencode(SLASH), path="slack-rotated").status_code == 200
    assert slack_in.post(urlencode(SLASH), path="slack-rotated", secret="new-secret").status_code == 200
    assert len(slack_in.events("Slack rotated")) == 2


# -- retries -------------------------------------------------------------------------------------


def test_slack_retries_of_an_event_are_answered_200_and_recorded_once(
    slack_in: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(event("Ev42"))
    assert slack_in.post(body, "application/json").status_code == 200
    caplog.set_level(logging.INFO, logger="storyline.engine.intake")
    # A retry storm: Slack's 3 retries, each freshly signed, and more besides.
    for retry in range(1, 8):
        response = slack_in.post(body, "application/json", timestamp=time.time() + retry,
                                 **{"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"})
        assert response.status_code == 200 and response.text == ""
    assert len(slack_in.events()) == 1
    assert "repeated delivery answered 200" in caplog.text
    # Another event is another delivery.
    assert slack_in.post(json.dumps(event("Ev43")), "application/json").status_code == 200
    assert [e["slack_in"]["event_id"] for e in slack_in.events()] == ["Ev42", "Ev43"]


def test_a_replayed_request_within_the_window_is_recorded_once(slack_in: Slack) -> None:
    body = urlencode(SLASH).encode()
    headers = {"content-type": FORM, **slack_in.signer.signed(body)}
    first = slack_in.client.post("/webhook/slack", content=body, headers=headers)
    again = slack_in.client.post("/webhook/slack", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert len(slack_in.events()) == 1


def test_retries_are_remembered_by_every_web_node_sharing_the_database(slack_in: Slack) -> None:
    body = json.dumps(event("Ev77"))
    assert slack_in.post(body, "application/json").status_code == 200
    with TestClient(create_app(Settings(database_url=slack_in.database_url), worker=False)) as other:
        retry = Slack(other, slack_in.database_url)
        assert retry.post(body, "application/json", **{"x-slack-retry-num": "1"}).status_code == 200
    assert len(slack_in.events()) == 1


# -- bad input -----------------------------------------------------------------------------------


def _refused(slack_in: Slack, caplog: pytest.LogCaptureFixture, response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    assert slack_in.events() == []
    refusals = [r.getMessage() for r in caplog.records if r.name == "storyline.engine.intake"]
    assert any("refused: " in line and reason in line and f"(HTTP {status})" in line for line in refusals), refusals
    for text in (response.text, caplog.text):
        assert SECRET not in text and "legacy-verification-token" not in text


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unsigned", "missing X-Slack-Request-Timestamp or X-Slack-Signature"),
        ("wrong secret", "X-Slack-Signature does not match the body"),
        ("body changed", "X-Slack-Signature does not match the body"),
        ("stale", "more than 300s): stale or replayed"),
        ("future", "in the future"),
        ("bad timestamp", "X-Slack-Request-Timestamp is not a Unix time"),
    ],
)
def test_a_request_slack_did_not_sign_just_now_is_refused_401(
    slack_in: Slack, caplog: pytest.LogCaptureFixture, case: str, reason: str
) -> None:
    caplog.set_level(logging.INFO)
    body = urlencode(SLASH).encode()
    headers = {"content-type": FORM, **slack_in.signer.signed(body)}
    if case == "unsigned":
        headers = {"content-type": FORM}
    elif case == "wrong secret":
        headers.update(FakeSlack(signing_secret="not-the-secret").signed(body))
    elif case == "body changed":
        body = body.replace(b"example.com", b"evil.example")
    elif case == "stale":
        headers.update(slack_in.signer.signed(body, time.time() - 6 * 60))
    elif case == "future":
        headers.update(slack_in.signer.signed(body, time.time() + 6 * 60))
    else:
        headers["x-slack-request-timestamp"] = "yesterday"
    response = slack_in.client.post("/webhook/slack", content=body, headers=headers)
    _refused(slack_in, caplog, response, 401, reason)


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ('{"type": "event_callback", "event_id":', "application/json", "request body is not valid JSON"),
        ('["not", "an", "object"]', "application/json", "request body must be a JSON object"),
        (urlencode({"payload": "{not json"}), FORM, "form field 'payload' is not valid JSON"),
        (b"text=\xff\xfe", FORM, "request body is not UTF-8"),
    ],
)
def test_a_malformed_signed_request_is_refused_400(
    slack_in: Slack, caplog: pytest.LogCaptureFixture, body: str | bytes, content_type: str, reason: str
) -> None:
    caplog.set_level(logging.INFO)
    _refused(slack_in, caplog, slack_in.post(body, content_type), 400, reason)


def test_an_oversized_request_is_refused_413(slack_in: Slack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = slack_in.command(text="x" * 5000)
    _refused(slack_in, caplog, response, 413, "larger than the 4096 byte limit")


def test_a_signing_secret_that_is_not_defined_is_a_clear_error_not_a_pass(slack_in: Slack) -> None:
    response = slack_in.post(urlencode(SLASH), path="slack-nocred")
    assert response.status_code == 500
    assert "credential 'missing' is not defined" in response.json()["error"]
    assert slack_in.events("Slack misconfigured") == []


@pytest.mark.parametrize("stamp", [b"9" * 400, b"1" * 5000, b"-1700000000", b"1.7e9"])
def test_a_timestamp_that_is_no_plausible_unix_time_is_refused_401_not_a_crash(
    slack_in: Slack, caplog: pytest.LogCaptureFixture, stamp: bytes
) -> None:
    caplog.set_level(logging.INFO)
    body = urlencode(SLASH).encode()
    headers = {"content-type": FORM, **slack_in.signer.signed(body)}
    headers["x-slack-request-timestamp"] = stamp  # type: ignore[assignment]  # bytes: as sent on the wire
    response = slack_in.client.post("/webhook/slack", content=body, headers=headers)
    _refused(slack_in, caplog, response, 401, "X-Slack-Request-Timestamp is not a Unix time")

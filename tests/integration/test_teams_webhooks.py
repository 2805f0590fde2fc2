"""Teams activities at a webhook with ``verification: {"type": "teams"}``, as the Bot Connector sends them.

Microsoft's hosts (OpenID metadata, keys, connector) are the Bot Framework fake, reached
through egress overrides; the tokens are signed with its key, or forged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.egress.client import Egress
from storyline.inbound import VerificationFailed
from storyline.standins.botframework import ConnectorKey
from storyline.store.db import make_engine
from storyline.store.resources import save_resource
from storyline.verifiers.teams import REFRESH_INTERVAL, Keys, strip_mention
from storyline.web.app import create_app
from tests.builders import WEBHOOK, agent, story
from tests.fakes.botframework import SERVICE_URL, FakeBotFramework
from tests.harness import load_stories
from tests.integration.test_webhook_options import Sender

APP_ID = "bot-app-id-0001"


def teams_story() -> dict[str, Any]:
    return story("Teams bot", [
        agent(WEBHOOK, "Teams message", path="teams", secret="t0ps3cret", verbs="post",
              verification={"type": "teams", "app_id": APP_ID}),
        agent(WEBHOOK, "Teams by resource", path="teams-res", secret="t0ps3cret", verbs="post",
              verification={"type": "teams", "app_id": "{{.RESOURCE.teams_app_id}}"}),
    ], [])


@pytest.fixture(scope="module")
def bot_server() -> Iterator[FakeBotFramework]:
    with FakeBotFramework(APP_ID) as server:
        yield server


@pytest.fixture
def bot(bot_server: FakeBotFramework) -> Iterator[FakeBotFramework]:
    bot_server.reset()
    yield bot_server


@pytest.fixture
def sender(database_url: str, bot: FakeBotFramework) -> Iterator[Sender]:
    load_stories(database_url, teams_story())
    engine = make_engine(database_url)
    with engine.begin() as conn:
        save_resource(conn, "teams_app_id", APP_ID, time.time())
    engine.dispose()
    settings = Settings(database_url=database_url, egress_overrides=bot.overrides())
    with TestClient(create_app(settings, worker=False)) as client:
        yield Sender(client, database_url)


def post(sender: Sender, activity: dict[str, Any], token: str | None, path: str = "teams") -> Any:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return sender.client.post(f"/webhook/{path}/t0ps3cret", content=json.dumps(activity), headers=headers)


def test_a_signed_mention_becomes_an_event_with_the_bot_mention_stripped(
    sender: Sender, bot: FakeBotFramework
) -> None:
    activity = bot.activity("analyzedomain example.com")
    response = post(sender, activity, bot.mint())
    assert response.status_code == 201, response.text
    [event] = sender.events("Teams message")
    message = event["teams_message"]
    assert message["text"] == "analyzedomain example.com"
    assert message["from"]["name"] == "Jane Smith"
    assert message["serviceUrl"] == SERVICE_URL
    assert message["id"] == activity["id"]
    conversation = "19%3Ateam-general%40thread.tacv2%3Bmessageid%3D1481567603816"
    assert message["conversation_url"] == f"{SERVICE_URL}v3/conversations/{conversation}/activities"
    assert message["reply_url"] == f"{message['conversation_url']}/{activity['id']}"


def test_an_activity_the_connector_sends_again_is_answered_200_and_recorded_once(
    sender: Sender, bot: FakeBotFramework
) -> None:
    activity = bot.activity("analyzedomain example.com")
    assert post(sender, activity, bot.mint()).status_code == 201
    again = post(sender, activity, bot.mint())  # the Bot Connector's redelivery: a fresh token, the same id
    assert again.status_code == 200 and again.text == ""
    other = post(sender, bot.activity("analyzedomain example.com"), bot.mint())
    assert other.status_code == 201
    assert len(sender.events("Teams message")) == 2


def test_adaptive_card_submits_and_invokes_become_events(sender: Sender, bot: FakeBotFramework) -> None:
    submit = bot.activity(value={"verb": "approve", "run": "r-1"}, replyToId="activity-7")
    invoke = bot.activity(type="invoke", name="adaptiveCard/action",
                          value={"action": {"type": "Action.Execute", "verb": "deny", "data": {"run": "r-1"}}})
    assert post(sender, submit, bot.mint()).status_code == 201
    assert post(sender, invoke, bot.mint()).status_code == 201
    clicked, invoked = (e["teams_message"] for e in sender.events("Teams message"))
    assert clicked["text"] == "" and clicked["value"] == {"verb": "approve", "run": "r-1"}
    assert clicked["replyToId"] == "activity-7" and clicked["from"]["id"] == "29:user-jane"
    assert invoked["type"] == "invoke" and invoked["value"]["action"]["verb"] == "deny"


def test_keys_are_fetched_once_and_the_app_id_may_be_a_resource(sender: Sender, bot: FakeBotFramework) -> None:
    for _ in range(3):
        assert post(sender, bot.activity("hi"), bot.mint(), path="teams-res").status_code == 201
    assert len(sender.events("Teams by resource")) == 3
    assert len(bot.calls_to("/v1/.well-known/openidconfiguration")) <= 1
    assert len(bot.calls_to("/v1/.well-known/keys")) <= 1


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged(bot: FakeBotFramework, case: str) -> tuple[dict[str, Any], str | None]:
    """An activity and a token that must not pass, by the way it was forged."""
    activity = bot.activity("analyzedomain example.com")
    claims = {"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": SERVICE_URL,
              "exp": int(time.time()) + 300}
    public_pem = bot.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    match case:
        case "unsigned":
            return activity, None
        case "not a jwt":
            return activity, "definitely-not-a-token"
        case "alg none":
            return activity, f"{_b64({'alg': 'none', 'kid': bot.key.kid})}.{_b64(claims)}."
        case "hs256":
            # The classic confusion attack: HMAC keyed with the (public) RSA key.
            signing = f"{_b64({'alg': 'HS256', 'kid': bot.key.kid, 'typ': 'JWT'})}.{_b64(claims)}"
            mac = hmac.new(public_pem, signing.encode(), hashlib.sha256).digest()
            return activity, f"{signing}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        case "bad signature":
            other = ConnectorKey.generate()
            return activity, jwt.encode(claims, other.private_key, algorithm="RS256",
                                        headers={"kid": bot.key.kid})
        case "unknown key":
            return activity, ConnectorKey.generate().sign(APP_ID, SERVICE_URL)
        case "wrong audience":
            return activity, bot.mint(app_id="someone-elses-bot")
        case "expired":
            return activity, bot.mint(now=time.time() - 3600)
        case "wrong issuer":
            return activity, bot.mint(iss="https://sts.windows.net/evil/")
        case "no serviceurl claim":
            return activity, bot.mint(serviceurl=None)
        case "serviceUrl mismatch":
            return activity, bot.mint("https://smba.trafficmanager.net/emea/")
        case "internal serviceUrl":
            url = "https://10.0.0.5/"
            return bot.activity("x", service_url=url), bot.mint(url)
        case "metadata serviceUrl":
            url = "https://169.254.169.254/latest/"
            return bot.activity("x", service_url=url), bot.mint(url)
        case "foreign serviceUrl":
            url = "https://smba.attacker.example/amer/"
            return bot.activity("x", service_url=url), bot.mint(url)
        case "http serviceUrl":
            url = "http://smba.trafficmanager.net/amer/"
            return bot.activity("x", service_url=url), bot.mint(url)
        case "not endorsed":
            return bot.activity("x", channelId="slack"), bot.mint()
        case "not an activity":
            return {"hello": "world"}, bot.mint()
    raise AssertionError(case)


REFUSALS = {
    "unsigned": "missing Authorization: Bearer",
    "not a jwt": "not a JWT",
    "alg none": "algorithm 'none' refused",
    "hs256": "algorithm 'HS256' refused",
    "bad signature": "signature does not verify",
    "unknown key": "is not one of Microsoft's Bot Framework keys",
    "wrong audience": "another audience",
    "expired": "expired",
    "wrong issuer": "issuer is not https://api.botframework.com",
    "no serviceurl claim": "does not match the token's serviceurl claim",
    "serviceUrl mismatch": "does not match the token's serviceurl claim",
    "internal serviceUrl": "serviceUrl host 10.0.0.5 is a private address",
    "metadata serviceUrl": "is a cloud metadata address",
    "foreign serviceUrl": "smba.attacker.example is not a Bot Framework host",
    "http serviceUrl": "is not an https URL",
    "not endorsed": "not endorsed for channel 'slack'",
    "not an activity": "not a Bot Framework activity",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_forged_or_misdirected_activities_get_401_no_event_and_a_log_line(
    sender: Sender, bot: FakeBotFramework, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    activity, token = forged(bot, case)
    with caplog.at_level(logging.WARNING, logger="storyline.engine.intake"):
        response = post(sender, activity, token)
    assert response.status_code == 401, response.text
    assert REFUSALS[case] in response.json()["error"]
    assert sender.events("Teams message") == []
    logged = [r.getMessage() for r in caplog.records if "Teams message" in r.getMessage()]
    assert any(REFUSALS[case] in line for line in logged), logged
    if token:
        assert token not in caplog.text and token not in response.text


def test_an_app_id_that_renders_empty_is_a_named_500_not_a_pass(database_url: str, bot: FakeBotFramework) -> None:
    load_stories(database_url, teams_story())  # no teams_app_id resource
    settings = Settings(database_url=database_url, egress_overrides=bot.overrides())
    with TestClient(create_app(settings, worker=False)) as client:
        response = post(Sender(client, database_url), bot.activity("hi"), bot.mint(), path="teams-res")
    assert response.status_code == 500
    assert "resource 'teams_app_id' is not defined" in response.json()["error"]


def test_the_service_host_allow_list_is_configurable(database_url: str, bot: FakeBotFramework) -> None:
    load_stories(database_url, teams_story())
    settings = Settings(database_url=database_url, egress_overrides=bot.overrides(),
                        teams_service_hosts=("smba.example.org",))
    with TestClient(create_app(settings, worker=False)) as client:
        sender = Sender(client, database_url)
        refused = post(sender, bot.activity("hi"), bot.mint())
        url = "https://smba.example.org/x/"
        accepted = post(sender, bot.activity("hi", service_url=url), bot.mint(url))
    assert refused.status_code == 401 and "smba.trafficmanager.net is not a Bot Framework host" in refused.text
    assert accepted.status_code == 201


async def test_a_rolled_key_is_fetched_on_its_first_token_but_unknown_kids_cannot_hammer_microsoft() -> None:
    with FakeBotFramework(APP_ID) as bot:
        egress = Egress(bot.overrides())
        keys = Keys()
        try:
            await keys.get(egress, bot.key.kid, now=1000.0)
            new = bot.rotate()
            with pytest.raises(VerificationFailed, match="not one of Microsoft's"):
                await keys.get(egress, new.kid, now=1000.0 + REFRESH_INTERVAL / 2)
            assert len(bot.calls_to("/v1/.well-known/keys")) == 1
            key, endorsements = await keys.get(egress, new.kid, now=1001.0 + REFRESH_INTERVAL)
            assert endorsements == {"msteams"}
            assert len(bot.calls_to("/v1/.well-known/keys")) == 2
            jwt.decode(bot.mint(), key, algorithms=["RS256"], audience=APP_ID)
        finally:
            await egress.aclose()


def test_only_the_bots_own_mention_is_stripped() -> None:
    activity = {"recipient": {"id": "28:bot"}, "entities": [
        {"type": "mention", "mentioned": {"id": "28:bot"}, "text": "<at>Bot</at>"},
        {"type": "mention", "mentioned": {"id": "29:alice"}, "text": "<at>Alice</at>"}]}
    assert strip_mention("<at>Bot</at> page <at>Alice</at> now", activity) == "page <at>Alice</at> now"
    assert strip_mention("  plain  ", {}) == "plain"

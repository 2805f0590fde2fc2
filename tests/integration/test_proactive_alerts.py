"""The pack's proactive alerts: ask the person by e-mail, Confirm / Not me, escalate to the channel.

The app runs with its worker; the Slack fake (Web API and incoming webhook) and the Bot
Framework fake (roster, conversations, Workflows webhook) stand in for the outside. The
prompt buttons are storyline prompt links, clicked as the person's browser would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.credentials import model as creds
from storyline.web.app import create_app
from tests.fakes.botframework import (
    SERVICE_URL,
    TEAM_ID,
    TENANT_ID,
    WORKFLOW_HOST,
    WORKFLOW_SIG,
    FakeBotFramework,
)
from tests.fakes.slack import FakeSlack
from tests.integration.security_chatbot import PUBLIC, Database, install
from tests.support import eventually

ALERT = {"email": "ana@example.com", "title": "New sign-in from Lisbon", "details": "Chrome on Windows, 10:02 UTC"}
SLACK_HOOK = "https://hooks.slack.com/services/T0/B0/channel-hook"
WORKFLOW_URL = f"https://{WORKFLOW_HOST}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig={WORKFLOW_SIG}"


class Pack:
    def __init__(self, client: TestClient, database_url: str) -> None:
        self.client, self.db = client, Database(database_url)

    def alert(self, path: str, alert: dict[str, Any]) -> Any:
        return self.client.post(self.db.webhook_url(path), json=alert)

    def click(self, link: str) -> Any:
        assert link.startswith(f"{PUBLIC}/prompt?"), link
        return self.client.get(link.removeprefix(PUBLIC))

    def event(self, action: str, timeout: float = 30.0) -> dict[str, Any]:
        [found] = eventually(lambda: self.db.events(action), timeout, f"an event from {action!r}")
        return found


def open_pack(database_url: str, slack: FakeSlack, bot: FakeBotFramework, escalate_after: float) -> Iterator[Pack]:
    bot_token = creds.oauth2(
        "teams_bot", token_url="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
        client_id=bot.app_id, client_secret=bot.app_secret, scope="https://api.botframework.com/.default",
        allowed_hosts=["smba.trafficmanager.net"])
    install(database_url, {"slack_bot_token": slack.token, "slack_incoming_webhook_url": SLACK_HOOK,
                           "teams_bot": bot_token, "teams_workflow_url": WORKFLOW_URL},
            {"alert_escalate_after_seconds": escalate_after,
             "teams": {"service_url": SERVICE_URL, "team_id": TEAM_ID, "tenant_id": TENANT_ID,
                       "bot_id": f"28:{bot.app_id}"}})
    settings = Settings(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05, max_attempts=3,
                        egress_timeout=1.0, sqlite_synchronous="NORMAL",
                        egress_overrides={"slack.com": slack.url, "hooks.slack.com": slack.url, **bot.overrides()})
    with TestClient(create_app(settings)) as client:
        yield Pack(client, database_url)


@pytest.fixture
def pack(database_url: str, slack: FakeSlack, bot: FakeBotFramework) -> Iterator[Pack]:
    yield from open_pack(database_url, slack, bot, 900)


@pytest.fixture
def impatient(database_url: str, slack: FakeSlack, bot: FakeBotFramework) -> Iterator[Pack]:
    yield from open_pack(database_url, slack, bot, 1)


def slack_question(slack: FakeSlack) -> dict[str, Any]:
    [asked] = eventually(lambda: slack.messages, 30, f"a Slack message; calls: {[c.path for c in slack.calls]}")
    return asked


def slack_buttons(message: dict[str, Any]) -> dict[str, str]:
    return {e["text"]["text"]: e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}


def test_slack_alert_asks_the_person_and_confirm_thanks_them(pack: Pack, slack: FakeSlack) -> None:
    response = pack.alert("slack-proactive-alert", ALERT)
    assert response.status_code == 201
    assert response.text == "Asking ana@example.com about 'New sign-in from Lisbon'"

    asked = slack_question(slack)
    assert [c.params.get("email") for c in slack.calls_of("users.lookupByEmail")] == ["ana@example.com"]
    assert len(slack.calls_of("conversations.open")) == 1
    assert asked["channel"] == slack.dms["U0ANA"]
    assert asked["text"] == "Security alert: New sign-in from Lisbon"
    assert asked["blocks"][0]["text"]["text"] == (
        "*Security alert: New sign-in from Lisbon*\nChrome on Windows, 10:02 UTC\nWas this you?")
    buttons = slack_buttons(asked)
    assert list(buttons) == ["Confirm", "Not me"]

    page = pack.click(buttons["Confirm"])
    assert page.status_code == 200

    recorded = pack.event("Record answer")
    assert {k: recorded["output"][k] for k in ("email", "title", "answer")} == {
        "email": "ana@example.com", "title": "New sign-in from Lisbon", "answer": "confirm"}
    thanks = eventually(lambda: slack.messages[1:], 30, "the thank-you message")
    assert [(m["channel"], m["text"]) for m in thanks] == [
        (slack.dms["U0ANA"], "Thanks for confirming: New sign-in from Lisbon.")]
    assert pack.db.events("Escalate to the channel") == []
    assert slack.webhook_posts == []


def test_slack_alert_not_me_escalates_and_thanks(pack: Pack, slack: FakeSlack) -> None:
    pack.alert("slack-proactive-alert", ALERT)
    assert pack.click(slack_buttons(slack_question(slack))["Not me"]).status_code == 200

    [post] = eventually(lambda: slack.webhook_posts, 30, "the channel notification")
    assert post["path"] == "/services/T0/B0/channel-hook"
    assert post["payload"]["text"] == (
        ":rotating_light: ana@example.com says it was not them: New sign-in from Lisbon")
    assert pack.event("Record answer")["output"]["answer"] == "not_me"
    thanks = eventually(lambda: slack.messages[1:], 30, "the thank-you message")
    assert [m["text"] for m in thanks] == ["Thanks, the security team has been told: New sign-in from Lisbon."]


def test_slack_alert_without_an_answer_escalates_to_the_channel(
        impatient: Pack, slack: FakeSlack, bot: FakeBotFramework) -> None:
    impatient.alert("slack-proactive-alert", ALERT)
    slack_question(slack)

    [post] = eventually(lambda: slack.webhook_posts, 30, "the channel notification")
    assert post["payload"]["text"] == (
        ":rotating_light: ana@example.com did not answer within 1 s: New sign-in from Lisbon")
    [teams_post] = eventually(lambda: bot.workflow_posts, 30, "the Teams channel notification")
    texts = [b["text"] for b in teams_post["attachments"][0]["content"]["body"]]
    assert texts[0] == "New sign-in from Lisbon"
    assert impatient.event("Record answer")["output"]["answer"] == "no_answer"
    assert [m["text"] for m in slack.messages[1:]] == [], "no thank-you without an answer"


def test_teams_alert_finds_the_member_by_email_and_confirm_thanks_them(pack: Pack, bot: FakeBotFramework) -> None:
    member = bot.add_member("ana@example.com", "Ana Silva")
    response = pack.alert("teams-proactive-alert", ALERT)
    assert response.status_code == 201

    [asked] = eventually(lambda: bot.activities, 30, f"a Teams message; calls: {[c.path for c in bot.calls]}")
    [conversation] = bot.conversations
    assert conversation["members"] == [{"id": member["id"]}]
    assert conversation["bot"] == {"id": f"28:{bot.app_id}"} and conversation["tenantId"] == TENANT_ID
    assert asked["conversation"] == conversation["id"]
    card = asked["activity"]["attachments"][0]["content"]
    assert [b["text"] for b in card["body"]] == [
        "Security alert: New sign-in from Lisbon", "Chrome on Windows, 10:02 UTC", "Was this you?"]
    links = {a["title"]: a["url"] for a in card["actions"]}
    assert list(links) == ["Confirm", "Not me"]

    assert pack.click(links["Confirm"]).status_code == 200
    assert pack.event("Record answer")["output"]["answer"] == "confirm"
    thanks = eventually(lambda: bot.activities[1:], 30, "the thank-you message")
    assert [(t["conversation"], t["activity"]["text"]) for t in thanks] == [
        (conversation["id"], "Thanks for confirming: New sign-in from Lisbon.")]
    assert bot.workflow_posts == []


def test_teams_alert_without_an_answer_escalates_and_does_not_thank(
        impatient: Pack, slack: FakeSlack, bot: FakeBotFramework) -> None:
    bot.add_member("ana@example.com", "Ana Silva")
    impatient.alert("teams-proactive-alert", ALERT)

    [teams_post] = eventually(lambda: bot.workflow_posts, 30, "the Teams channel notification")
    texts = [b["text"] for b in teams_post["attachments"][0]["content"]["body"]]
    assert texts[:2] == ["New sign-in from Lisbon", "ana@example.com did not answer within 1 s: New sign-in from Lisbon"]
    assert impatient.event("Record answer")["output"]["answer"] == "no_answer"
    [post] = eventually(lambda: slack.webhook_posts, 30, "the Slack channel notification")
    assert post["payload"]["text"].startswith(":rotating_light: ana@example.com did not answer")
    assert [sent["activity"].get("text") for sent in bot.activities] == ["Security alert: New sign-in from Lisbon"]

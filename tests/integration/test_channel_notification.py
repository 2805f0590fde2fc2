"""The pack's Channel notification on its own: one POST, each configured channel gets the alert.

The Slack fake plays the Slack incoming webhook, the Bot Framework fake the Teams Workflows
webhook; a channel whose credential is not set is skipped, not failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.web.app import create_app
from tests.fakes.botframework import WORKFLOW_HOST, WORKFLOW_SIG, FakeBotFramework
from tests.fakes.slack import FakeSlack
from tests.integration.security_chatbot import PUBLIC, Database, install
from tests.support import eventually

SLACK_HOOK = "https://hooks.slack.com/services/T0/B0/channel-hook"
WORKFLOW_URL = f"https://{WORKFLOW_HOST}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig={WORKFLOW_SIG}"
NOTICE = {"title": "Blocked evil-example.com", "text": "Ana blocked evil-example.com",
          "details": "VirusTotal: 12/94 engines flag it as malicious"}


def open_app(database_url: str, slack: FakeSlack, bot: FakeBotFramework,
             credentials: dict[str, str]) -> Iterator[tuple[TestClient, Database]]:
    install(database_url, credentials)
    settings = Settings(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05, max_attempts=3,
                        egress_timeout=1.0, sqlite_synchronous="NORMAL",
                        egress_overrides={"hooks.slack.com": slack.url, **bot.overrides()})
    with TestClient(create_app(settings)) as client:
        yield client, Database(database_url)


def notify(client: TestClient, db: Database, notice: dict[str, Any]) -> Any:
    return client.post(db.webhook_url("channel-notification"), json=notice)


@pytest.fixture
def both(database_url: str, slack: FakeSlack, bot: FakeBotFramework) -> Iterator[tuple[TestClient, Database]]:
    yield from open_app(database_url, slack, bot,
                        {"slack_incoming_webhook_url": SLACK_HOOK, "teams_workflow_url": WORKFLOW_URL})


def test_both_channels_get_the_notification(both: tuple[TestClient, Database], slack: FakeSlack,
                                            bot: FakeBotFramework) -> None:
    client, db = both
    assert notify(client, db, NOTICE).status_code == 201

    [post] = eventually(lambda: slack.webhook_posts, 30, "the Slack incoming webhook post")
    assert post["path"] == "/services/T0/B0/channel-hook"
    assert post["payload"]["text"] == ":rotating_light: Ana blocked evil-example.com"
    section, context = post["payload"]["blocks"]
    assert section["text"]["text"] == ":rotating_light: *Blocked evil-example.com*\nAna blocked evil-example.com"
    assert context["elements"][0]["text"] == "VirusTotal: 12/94 engines flag it as malicious"

    [card] = eventually(lambda: bot.workflow_posts, 30, "the Teams Workflows post")
    [attachment] = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert [b["text"] for b in attachment["content"]["body"]] == [
        "Blocked evil-example.com", "Ana blocked evil-example.com", "VirusTotal: 12/94 engines flag it as malicious"]
    eventually(lambda: len(db.events("Notified")) == 2, 30, "both notifications recorded")


@pytest.fixture
def slack_only(database_url: str, slack: FakeSlack, bot: FakeBotFramework) -> Iterator[tuple[TestClient, Database]]:
    yield from open_app(database_url, slack, bot, {"slack_incoming_webhook_url": SLACK_HOOK})


def test_a_channel_without_its_credential_is_skipped(slack_only: tuple[TestClient, Database], slack: FakeSlack,
                                                     bot: FakeBotFramework) -> None:
    client, db = slack_only
    assert notify(client, db, {"title": "Heads up"}).status_code == 201

    [post] = eventually(lambda: slack.webhook_posts, 30, "the Slack incoming webhook post")
    assert post["payload"]["text"] == ":rotating_light: Heads up", "the title stands in for a missing text"
    [notified] = eventually(lambda: db.events("Notified"), 30, "the notification recorded")
    assert notified["output"] == {"notified": "Heads up"}
    assert db.events("Notify Teams channel") == []
    assert bot.calls == []

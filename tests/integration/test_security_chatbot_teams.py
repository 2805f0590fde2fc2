"""The pack's Teams security chatbot, from a signed @mention to the verdict card and a card click.

The app runs with its worker; Microsoft's side is the Bot Framework fake (it mints the
activity JWTs, serves the signing keys and the bot token, and keeps every activity the bot
sends), the enrichment sources are ``FakeEnrichment``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.credentials import model as creds
from storyline.web.app import create_app
from tests.fakes.botframework import TEAM_ID, FakeBotFramework
from tests.fakes.enrichment import FakeEnrichment
from tests.integration.security_chatbot import PUBLIC, Database, install
from tests.support import eventually

EVERY_KEY = {"virustotal": "vt-key", "urlhaus": "uh-key"}
CONVERSATION = f"{TEAM_ID};messageid=1481567603816"
WEBHOOK_PATH = "security-chatbot-teams"


def bot_token(bot: FakeBotFramework) -> creds.Credential:
    """``teams_bot`` as the README sets it: OAuth2 client credentials for the Bot Connector."""
    return creds.oauth2("teams_bot", token_url="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
                        client_id=bot.app_id, client_secret=bot.app_secret,
                        scope="https://api.botframework.com/.default", allowed_hosts=["smba.trafficmanager.net"])


class Team:
    """Teams' side of the conversation with the installed pack."""

    def __init__(self, client: TestClient, bot: FakeBotFramework, database_url: str) -> None:
        self.client, self.bot, self.db = client, bot, Database(database_url)

    def send(self, activity: dict[str, Any]) -> Any:
        return self.client.post(self.db.webhook_url(WEBHOOK_PATH), json=activity,
                                headers={"authorization": f"Bearer {self.bot.mint()}"})

    def mention(self, text: str) -> tuple[Any, dict[str, Any]]:
        activity = self.bot.activity(text)
        return self.send(activity), activity

    def click(self, action: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """An ``Action.Submit`` click: a message activity with no text and the button's data as ``value``."""
        activity = self.bot.activity("", value=action["data"],
                                     **{"from": {"id": "29:user-bob", "name": "Bob Jones", "aadObjectId": "b0b"}})
        return self.send(activity), activity

    def reply_to(self, activity: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        sent = eventually(lambda: [s for s in self.bot.activities if s["activity"].get("replyToId") == activity["id"]],
                          timeout, lambda: f"a reply to {activity['id']}; calls: {[c.path for c in self.bot.calls]}")
        assert len(sent) == 1, sent
        assert sent[0]["conversation"] == CONVERSATION
        return sent[0]["activity"]


def card(reply: dict[str, Any]) -> dict[str, Any]:
    [attachment] = reply["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def lines(content: dict[str, Any], indicator: str) -> list[str]:
    """The verdict heading and the per-source lines of one indicator."""
    body = content["body"]
    [at] = [i for i, block in enumerate(body)
            if block["type"] == "TextBlock" and block["text"].startswith(f"{indicator}: ")]
    return [body[at]["text"], *(line.removeprefix("- ") for line in body[at + 1]["text"].splitlines())]


def submits(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for b in content["body"] if b["type"] == "ActionSet" for a in b["actions"]]


def open_team(database_url: str, bot: FakeBotFramework, intel: FakeEnrichment,
              keys: dict[str, str]) -> Iterator[Team]:
    install(database_url, {"teams_bot": bot_token(bot), **keys},
            {"chatbot_reply_within_seconds": 4, "teams_app_id": bot.app_id})
    settings = Settings(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05, max_attempts=3,
                        egress_timeout=1.0, sqlite_synchronous="NORMAL",
                        egress_overrides={**bot.overrides(), **intel.overrides()})
    with TestClient(create_app(settings)) as client:
        yield Team(client, bot, database_url)


@pytest.fixture
def team(database_url: str, bot: FakeBotFramework, intel: FakeEnrichment) -> Iterator[Team]:
    yield from open_team(database_url, bot, intel, EVERY_KEY)


def test_analyzedomain_replies_with_a_verdict_card_and_a_click_is_recorded(team: Team) -> None:
    response, activity = team.mention("analyzedomain evil-example.com")
    assert response.status_code in (200, 201), response.text

    content = card(team.reply_to(activity))
    assert content["type"] == "AdaptiveCard"
    assert content["body"][0]["text"] == "1 domain analysed: analyzedomain evil-example.com"
    evil = lines(content, "evil-example.com")
    assert evil[0] == "evil-example.com: malicious"
    assert evil[1].startswith("VirusTotal: 12/94 engines flag it as malicious")
    assert evil[2].startswith("URLhaus: 3 malware URLs")
    assert evil[3].startswith("Domain age: registered ")
    actions = submits(content)
    assert [(a["type"], a["title"], a["data"]) for a in actions] == [
        ("Action.Submit", "Whitelist", {"decision": "whitelist", "indicator": "evil-example.com"}),
        ("Action.Submit", "Block", {"decision": "block", "indicator": "evil-example.com"})]

    clicked, click = team.click(actions[1])
    assert clicked.status_code in (200, 201), clicked.text
    confirm = team.reply_to(click)
    assert confirm["text"] == "Bob Jones chose to **block** evil-example.com."
    [decision] = team.db.events("Record decision")
    assert {k: decision["output"][k] for k in ("decision", "indicator", "by", "by_id", "conversation")} == {
        "decision": "block", "indicator": "evil-example.com", "by": "Bob Jones", "by_id": "29:user-bob",
        "conversation": CONVERSATION}
    assert len(team.db.events("Post verdicts")) == 1, "a click is not taken for a new command"


@pytest.mark.parametrize(("text", "indicator", "sources"), [
    ("analyzeip seen from 45.9.148.1 and 10.0.0.1", "45.9.148.1", ["VirusTotal", "URLhaus"]),
    ("analyzeurl hxxps://evil-example[.]com/login", "https://evil-example.com/login", ["VirusTotal", "URLhaus"]),
    ("analyzehash 44d88612fea8a8f36de82e1278abb02f", "44d88612fea8a8f36de82e1278abb02f", ["VirusTotal", "URLhaus"]),
])
def test_every_kind_of_indicator(team: Team, text: str, indicator: str, sources: list[str]) -> None:
    _, activity = team.mention(text)
    content = card(team.reply_to(activity))
    assert content["body"][0]["text"].startswith("1 ")  # the private address is skipped
    first, *rest = lines(content, indicator)
    assert first == f"{indicator}: malicious"
    assert [line.split(":")[0] for line in rest] == sources


def test_help_and_no_indicator(team: Team) -> None:
    _, activity = team.mention("analyzedomain help")
    assert "analyzehash" in team.reply_to(activity)["text"]
    _, activity = team.mention("analyzedomain please check invoice.zip")
    assert team.reply_to(activity)["text"] == (
        'No domains found in "please check invoice.zip". Try "analyzedomain help".')
    assert team.db.events("Search VirusTotal") == []


def test_an_unsigned_activity_is_refused(team: Team) -> None:
    response = team.client.post(team.db.webhook_url(WEBHOOK_PATH), json=team.bot.activity("analyzedomain x.com"))
    assert response.status_code == 401
    assert team.db.events("Parse command") == []


@pytest.fixture
def no_keys(database_url: str, bot: FakeBotFramework, intel: FakeEnrichment) -> Iterator[Team]:
    yield from open_team(database_url, bot, intel, {})


def test_no_key_says_not_configured(no_keys: Team, intel: FakeEnrichment) -> None:
    _, activity = no_keys.mention("analyzedomain evil-example.com")
    evil = lines(card(no_keys.reply_to(activity)), "evil-example.com")
    assert evil[1:3] == ["VirusTotal: not configured", "URLhaus: not configured"]
    assert evil[3].startswith("Domain age: registered ")
    assert not [c for c in intel.calls if not c.path.startswith("/rdap")]

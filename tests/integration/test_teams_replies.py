"""The ready-made Teams actions, run by the worker against the Bot Framework fake.

Stories are assembled from ``storyline template show`` output as a user would paste it;
the bot token is an OAuth2 client-credentials credential fetched from the fake.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from storyline.chat.templates import TEMPLATES
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.store import tables as t
from storyline.store.resources import save_resource
from storyline.verifiers.teams import BotFrameworkJwt
from tests.builders import WEBHOOK, agent, story
from tests.fakes.botframework import (
    SERVICE_URL,
    TEAM_ID,
    TENANT_ID,
    WORKFLOW_HOST,
    WORKFLOW_SIG,
    FakeBotFramework,
)
from tests.harness import Harness

APP_ID = "bot-app-id-0001"


def template(name: str) -> dict[str, Any]:
    action = copy.deepcopy(TEMPLATES[name]["action"])
    return {**action, "disabled": False, "guid": f"guid-{name}"}


@pytest.fixture(scope="module")
def bot_server() -> Iterator[FakeBotFramework]:
    with FakeBotFramework(APP_ID) as server:
        yield server


@pytest.fixture
def bot(bot_server: FakeBotFramework) -> Iterator[FakeBotFramework]:
    bot_server.reset()
    yield bot_server


async def setup(h: Harness, bot: FakeBotFramework) -> None:
    cipher = Cipher.for_database(h.settings.database_url)
    token = creds.oauth2("teams_bot", token_url="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
                         client_id=bot.app_id, client_secret=bot.app_secret,
                         scope="https://api.botframework.com/.default", allowed_hosts=["smba.trafficmanager.net"])
    workflow = creds.text("teams_workflow_url", f"https://{WORKFLOW_HOST}/workflows/abc/triggers/manual/paths/invoke"
                                                f"?api-version=2016-06-01&sig={WORKFLOW_SIG}")
    teams = {"service_url": SERVICE_URL, "team_id": TEAM_ID, "tenant_id": TENANT_ID, "bot_id": f"28:{APP_ID}"}

    def write(conn: Any) -> None:
        save_credential(conn, cipher, token, time.time())
        save_credential(conn, cipher, workflow, time.time())
        save_resource(conn, "teams", teams, time.time())

    await h.service.db.write(write)
    await h.service.db.read(lambda conn: h.service.runtime.vault.refresh(conn, force=True))


def harness(database_url: str, bot: FakeBotFramework) -> Harness:
    return Harness(database_url, egress_overrides=bot.overrides())


async def test_replies_cards_and_card_updates_reach_the_conversation(database_url: str, bot: FakeBotFramework) -> None:
    async with harness(database_url, bot) as h:
        await setup(h, bot)
        await h.load(story("Teams bot", [
            agent(WEBHOOK, "Teams message", path="teams", secret="s", verification={"type": "teams", "app_id": APP_ID}),
            template("teams_reply"), template("teams_reply_card"), template("teams_update_card")],
            [(0, 1), (0, 2), (0, 3)]))
        message = BotFrameworkJwt().event(bot.activity("analyzedomain example.com", replyToId="activity-card-1"))
        await h.ingest("Teams message", message)
        await h.drain()
    by_kind = {("update" if sent["updates"] else "reply" if sent["activity"].get("attachments") is None else "card"): sent
               for sent in bot.activities}
    conversation = f"{TEAM_ID};messageid=1481567603816"
    assert by_kind["reply"]["conversation"] == conversation
    assert by_kind["reply"]["activity"] == {"type": "message", "text": "Working on: analyzedomain example.com",
                                            "replyToId": message["id"]}
    card = by_kind["card"]["activity"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    buttons = card["content"]["actions"]
    assert [b["type"] for b in buttons] == ["Action.Submit", "Action.Submit", "Action.OpenUrl", "Action.OpenUrl"]
    assert buttons[0]["data"]["verb"] == "block" and buttons[0]["data"]["run"]
    assert "/prompt" in buttons[2]["url"] and buttons[2]["url"] != buttons[3]["url"]
    assert by_kind["update"]["updates"] == "activity-card-1"
    tokens = {call.headers.get("authorization") for call in bot.calls if "/v3/" in call.path}
    assert len(tokens) == 1 and len(bot.calls_to("/botframework.com/oauth2/v2.0/token")) == 1, \
        "one token, fetched once and reused"


async def test_proactive_one_to_one_by_email_survives_a_429(database_url: str, bot: FakeBotFramework) -> None:
    member = bot.add_member("alice@example.com", "Alice")
    bot.throttle(1, retry_after=0.2, path="/amer/v3/conversations/a:conversation-1/activities")
    async with harness(database_url, bot) as h:
        await setup(h, bot)
        await h.load(story("Notify", [
            agent(WEBHOOK, "Notify", path="notify", secret="s"),
            template("teams_find_member"), template("teams_open_chat"), template("teams_send_message")],
            [(0, 1), (1, 2), (2, 3)]))
        await h.ingest("Notify", {"email": "Alice@Example.com", "text": "Approve the block of example.com?"})
        await h.drain()
    [conversation] = bot.conversations
    assert conversation["members"] == [{"id": member["id"]}]
    assert conversation["bot"] == {"id": f"28:{APP_ID}"} and conversation["tenantId"] == TENANT_ID
    [sent] = bot.activities
    assert sent["conversation"] == "a:conversation-1"
    assert sent["activity"]["text"] == "Approve the block of example.com?"
    throttled = [call for call in bot.calls if call.fault == "status 429"]
    assert len(throttled) == 1


async def test_an_unknown_member_fails_the_lookup_naming_the_status(database_url: str, bot: FakeBotFramework) -> None:
    async with harness(database_url, bot) as h:
        await setup(h, bot)
        await h.load(story("Notify", [agent(WEBHOOK, "Notify", path="notify", secret="s"),
                                      template("teams_find_member"), template("teams_open_chat")], [(0, 1), (1, 2)]))
        await h.ingest("Notify", {"email": "nobody@example.com", "text": "hi"})
        await h.drain()
        with h.engine.connect() as conn:
            logs = list(conn.execute(sa.select(t.logs.c.message)).scalars())
    assert bot.conversations == []
    assert any("404" in line for line in logs), logs


async def test_channel_notifications_go_through_a_workflows_webhook(database_url: str, bot: FakeBotFramework) -> None:
    async with harness(database_url, bot) as h:
        await setup(h, bot)
        await h.load(story("Notify", [agent(WEBHOOK, "Notify", path="notify", secret="s"),
                                      template("teams_channel_notification")], [(0, 1)]))
        await h.ingest("Notify", {"text": "Phishing wave contained"})
        await h.drain()
        events = h.events(action="Notify Teams channel")
    [posted] = bot.workflow_posts
    assert posted["attachments"][0]["content"]["body"][0]["text"] == "Phishing wave contained"
    assert events[0]["payload"]["notify_teams_channel"]["status"] == 202
    assert WORKFLOW_SIG not in str(events)

"""The Microsoft Teams stories the articles describe, imported unchanged, run end to end against fakes.

Microsoft's token endpoint and Bot Framework conversations are ``FakeBotFramework``; Graph,
Jira, VirusTotal, URLhaus and SMTP have their own fakes. The bot's client secret, the
Graph token and the Jira API token are credentials; tenant-specific values the sv4 story
reads from ``RESOURCE`` are resources; every outside host is reached through
``STORYLINE_EGRESS_OVERRIDES``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from storyline.credentials import model as creds
from tests.articles import Deployment, article_story, deployment, install
from tests.fakes.botframework import SCOPE, TEAM_ID, TENANT_ID, FakeBotFramework
from tests.fakes.jira import FakeJira
from tests.fakes.msgraph import FakeGraph
from tests.fakes.smtp import FakeSmtp
from tests.fakes.urlhaus import FakeUrlhaus
from tests.fakes.virustotal import FakeVirusTotal
from tests.support import eventually

BOT_SECRET = "teams-bot-client-secret-9"
VT_KEY = "vt-article-key-0042"
TOKEN_PATH = "/botframework.com/oauth2/v2.0/token"


def bot_server(app_id: str) -> Iterator[FakeBotFramework]:
    with FakeBotFramework(app_id, BOT_SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    with FakeVirusTotal(VT_KEY) as vt, FakeUrlhaus() as urlhaus, FakeGraph() as graph, FakeJira() as jira:
        yield {"vt": vt, "urlhaus": urlhaus, "graph": graph, "jira": jira}


@pytest.fixture
def fakes(servers: dict[str, Any]) -> dict[str, Any]:
    for server in servers.values():
        server.reset()
    return servers


def posted_to(running: Deployment, story: dict[str, Any], webhook: str, activity: dict[str, Any]) -> None:
    response = running.client.post(running.webhook_url(story, webhook), json=activity)
    assert response.status_code == 201, response.text


def token_requests(bot: FakeBotFramework) -> list[dict[str, str]]:
    return [call.form() for call in bot.calls_to(TOKEN_PATH)]


def connector_bearers(bot: FakeBotFramework) -> set[str]:
    """The Authorization headers sent to Bot Framework conversations; each one a token the fake issued."""
    sent = {c.headers.get("authorization", "") for c in bot.calls if "/v3/" in c.path}
    assert sent <= {f"Bearer {token}" for token in bot.tokens}, sent
    return sent


# -- blog--tines-security-chat-bot-simple-reply.json and blog--tines-security-chat-bot.json ----------

SECURITY_BOT_APP = "f7aba91c-d4c8-4034-89b0-f5c1d60c4b39"  # the client_id written in both exports


@pytest.fixture(scope="module")
def security_bot_server() -> Iterator[FakeBotFramework]:
    yield from bot_server(SECURITY_BOT_APP)


@pytest.fixture
def security_bot(security_bot_server: FakeBotFramework) -> FakeBotFramework:
    security_bot_server.reset()
    return security_bot_server


def test_the_simple_reply_bot_gets_a_token_and_answers_in_the_conversation(
    monkeypatch: pytest.MonkeyPatch, database_url: str, security_bot: FakeBotFramework
) -> None:
    story = article_story("blog--tines-security-chat-bot-simple-reply.json")
    install(database_url, [story], credentials=[creds.text("teams_bot", BOT_SECRET)])
    with deployment(monkeypatch, database_url, security_bot.overrides()) as running:
        activity = security_bot.activity("hello")
        posted_to(running, story, "receive commands", activity)
        [sent] = eventually(lambda: security_bot.activities, what=running.logs)
    assert token_requests(security_bot) == [{"grant_type": "client_credentials", "client_id": SECURITY_BOT_APP,
                                             "client_secret": BOT_SECRET, "scope": SCOPE}]
    assert sent["conversation"] == activity["conversation"]["id"]
    assert sent["activity"] == {
        "type": "message", "from": activity["recipient"],
        "recipient": {"id": activity["from"]["id"], "name": activity["from"]["name"]},
        "text": "This is the Tines Chat Bot, coming right back at you!"}
    assert len(connector_bearers(security_bot)) == 1


def test_the_security_bot_acknowledges_then_reports_the_domain_verdicts(
    monkeypatch: pytest.MonkeyPatch, database_url: str, security_bot: FakeBotFramework, fakes: dict[str, Any]
) -> None:
    story = article_story("blog--tines-security-chat-bot.json")
    install(database_url, [story], credentials=[creds.text("teams_bot", BOT_SECRET), creds.text("virustotal", VT_KEY)])
    fakes["vt"].set_domain("evil.example", category="malicious web sites")
    fakes["urlhaus"].add_host("evil.example")
    hosts = {**security_bot.overrides(), "www.virustotal.com": fakes["vt"].url,
             "urlhaus-api.abuse.ch": fakes["urlhaus"].url}
    with deployment(monkeypatch, database_url, hosts) as running:
        posted_to(running, story, "receive commands", security_bot.activity("analyzedomain evil.example"))
        eventually(lambda: len(security_bot.activities) == 2, what=running.logs)
        running.settled()
    texts = [sent["activity"]["text"] for sent in security_bot.activities]
    assert texts == [
        "We're analyzing the domain now - Sit Tight!",
        "We have completed analysis of the domain evil.example.<br><b>Forcepoint Categorization:</b> "
        "malicious web sites<br><b>URLHaus Categorization:</b> Malicious",
    ]
    assert [c.params for c in fakes["vt"].calls] == [{"apikey": VT_KEY, "domain": "evil.example"}]
    assert len(connector_bearers(security_bot)) == 1


def test_the_security_bot_ignores_other_messages(
    monkeypatch: pytest.MonkeyPatch, database_url: str, security_bot: FakeBotFramework, fakes: dict[str, Any]
) -> None:
    story = article_story("blog--tines-security-chat-bot.json")
    install(database_url, [story], credentials=[creds.text("teams_bot", BOT_SECRET), creds.text("virustotal", VT_KEY)])
    with deployment(monkeypatch, database_url, security_bot.overrides()) as running:
        posted_to(running, story, "receive commands", security_bot.activity("what's for lunch?"))
        eventually(lambda: running.events("Get Bearer Token from Microsoft"), what=running.logs)
        running.settled()
    assert security_bot.activities == [] and fakes["vt"].calls == []


# -- blog--proactive-teams-bot.json: find the user in the team roster, open a 1:1 chat, send a card ---

PROACTIVE_APP = "9389ba52-77e9-40bb-b8a4-38ccac91dbf1"


@pytest.fixture(scope="module")
def proactive_bot_server() -> Iterator[FakeBotFramework]:
    yield from bot_server(PROACTIVE_APP)


def test_the_proactive_bot_messages_a_user_found_through_graph_and_the_roster(
    monkeypatch: pytest.MonkeyPatch, database_url: str, proactive_bot_server: FakeBotFramework,
    fakes: dict[str, Any]
) -> None:
    bot, graph = proactive_bot_server, fakes["graph"]
    bot.reset()
    bot.add_member("bob@example.com", "Bob")
    alice = bot.add_member("alice@example.com", "Alice")
    user = graph.add_user("alice@example.com", "Alice")
    graph.add_team("Security", TEAM_ID, user)
    story = article_story("blog--proactive-teams-bot.json")
    install(database_url, [story], credentials=[creds.text("teams_bot", BOT_SECRET),
                                                creds.text("msgraph", graph.token)])
    with deployment(monkeypatch, database_url, {**bot.overrides(), "graph.microsoft.com": graph.url}) as running:
        response = running.client.get(running.webhook_url(story, "receive events"),
                                      params={"user_email": "alice@example.com"})
        assert response.status_code == 201
        [sent] = eventually(lambda: bot.activities, what=running.logs)
        [conversation] = bot.conversations
        assert conversation["members"] == [{"id": alice["id"]}]
        assert conversation["bot"]["id"] == f"28:{PROACTIVE_APP}"
        assert sent["conversation"] == "a:conversation-1"
        card = sent["activity"]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.thumbnail"
        assert sent["activity"]["recipient"] == {"id": alice["id"]}
        assert {c.headers["authorization"] for c in graph.calls} == {f"Bearer {graph.token}"}
        assert [c.path for c in graph.calls] == [
            "/v1.0/users/alice@example.com/", f"/v1.0/users/{user['id']}/joinedTeams", "/v1.0/Teams/team-1/"]
        escalate = card["content"]["buttons"][1]["value"]
        running.click(escalate)
        [answered] = eventually(
            lambda: [o for o in running.outputs("send thumbnail card to user") if "prompt" in o], what=running.logs)
    assert answered["prompt"]["status"] == "escalate"


# -- blog--microsoft-teams-chatbot.json (sv4): Jira issue, Adaptive prompts, e-mail or close -----------

CHATBOT_APP = "teams-chatbot-app-77"
JIRA_HOST = "tinesio.atlassian.net"


@pytest.fixture(scope="module")
def chatbot_server() -> Iterator[FakeBotFramework]:
    yield from bot_server(CHATBOT_APP)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def teams_chatbot(monkeypatch: pytest.MonkeyPatch, database_url: str, chatbot_server: FakeBotFramework,
                  fakes: dict[str, Any], smtp_server: FakeSmtp) -> Iterator[Deployment]:
    bot, jira = chatbot_server, fakes["jira"]
    bot.reset()
    smtp_server.reset()
    bot.add_member("aaron@example.com", "Aaron Sandow")
    install(
        database_url, [article_story("blog--microsoft-teams-chatbot.json")],
        credentials=[
            creds.oauth2("teamschatbot", token_url="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
                         client_id=CHATBOT_APP, client_secret=BOT_SECRET, scope=SCOPE),
            creds.text("jira", jira.token),
        ],
        resources={"microsoft_serviceurl": "smba.trafficmanager.net/amer", "teams_tines_team_id": TEAM_ID,
                   "microsoft_teams_bot_id": f"28:{CHATBOT_APP}", "jira_domain": JIRA_HOST,
                   "jira_username": jira.user})
    with deployment(monkeypatch, database_url, {**bot.overrides(), JIRA_HOST: jira.url},
                    smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_from="soc@example.com") as running:
        yield running


def sent_card(running: Deployment, bot: FakeBotFramework, fakes: dict[str, Any]) -> dict[str, Any]:
    running.run_action("Demo Incident from MS Sentinel")
    [sent] = eventually(lambda: bot.activities, what=running.logs)
    return sent


def test_the_teams_chatbot_opens_a_jira_issue_and_sends_a_card_to_the_analyst(
    teams_chatbot: Deployment, chatbot_server: FakeBotFramework, fakes: dict[str, Any]
) -> None:
    bot, jira = chatbot_server, fakes["jira"]
    sent = sent_card(teams_chatbot, bot, fakes)
    [issue] = jira.issues
    assert issue["fields"]["project"] == {"key": "DEMO"} and issue["fields"]["summary"] == "New Sentinel Alert"
    assert "||*Severity*|High |" in issue["fields"]["description"]
    basic = base64.b64encode(f"{jira.user}:{jira.token}".encode()).decode()
    assert jira.calls[0].headers["authorization"] == f"Basic {basic}"
    [conversation] = bot.conversations
    aaron = bot.members[0]
    assert conversation["members"] == [{"id": aaron["id"]}]
    assert conversation["channelData"] == {"tenant": {"id": TENANT_ID}}
    content = sent["activity"]["attachments"][0]["content"]
    assert content["text"].startswith("A new alert has just been created in Jira with the JIRA ID: 10001.\n")
    assert "Microsoft Sentinel incident Number: 3177." in content["text"]
    assert content["buttons"][1]["value"] == f"https://{JIRA_HOST}/browse/DEMO-1"
    # The bot token is the OAuth2 credential, fetched once from Microsoft and sent to the connector.
    assert token_requests(bot)[0]["client_id"] == CHATBOT_APP
    assert len(connector_bearers(bot)) == 1
    assert BOT_SECRET not in json.dumps(teams_chatbot.events()) and jira.token not in json.dumps(teams_chatbot.events())


def test_escalate_mails_the_incident_owner(
    teams_chatbot: Deployment, chatbot_server: FakeBotFramework, fakes: dict[str, Any], smtp_server: FakeSmtp
) -> None:
    content = sent_card(teams_chatbot, chatbot_server, fakes)["activity"]["attachments"][0]["content"]
    teams_chatbot.click(content["buttons"][2]["value"])
    [mail] = eventually(lambda: smtp_server.messages, what=teams_chatbot.logs)
    teams_chatbot.settled()
    assert mail.rcpt_tos == ["john.doe@contoso.com"]
    assert mail["Subject"] == "Example email from Tines"
    assert "JIRA ID: 10001" in mail.message.get_body(("html", "plain")).get_content()
    assert fakes["jira"].transitions == []


def test_false_positive_closes_the_jira_issue(
    teams_chatbot: Deployment, chatbot_server: FakeBotFramework, fakes: dict[str, Any], smtp_server: FakeSmtp
) -> None:
    content = sent_card(teams_chatbot, chatbot_server, fakes)["activity"]["attachments"][0]["content"]
    teams_chatbot.click(content["buttons"][3]["value"])
    eventually(lambda: fakes["jira"].transitions, what=teams_chatbot.logs)
    teams_chatbot.settled()
    assert fakes["jira"].transitions == [("10001", {"transition": {"id": "31"}})]
    assert fakes["jira"].calls_to("/rest/api/3/issue/10001/transitions")
    assert smtp_server.messages == []

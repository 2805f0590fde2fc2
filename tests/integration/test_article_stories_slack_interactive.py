"""Slack interactivity and prompts with a timeout: two schema-3 exports, imported unchanged.

* ``use-cases--slack--slack-interactive-bot-example.json``: a DM with Block Kit buttons; Slack
  posts button clicks and modal submissions to one interactive webhook as a form field
  ``payload``; the story opens a modal, updates the message and comments on Jira.
* ``blog--top_3_stories_you_didnt_know_you_needed--chatops.json``: a sub-story that DMs a user
  with prompt buttons and returns their answer, or ``no_response`` after an hour.

Both read their webhooks as ``.<webhook>.body.<field>``: schema-3 webhooks include headers
unless told otherwise, so the request sits under ``body``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from storyline.credentials import model as creds
from tests.articles import Deployment, article_story, deployment, install
from tests.builders import WEBHOOK, agent, story
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.support import eventually

SLACK_TOKEN = "xoxb-2222-interactive-bot"
JIRA_HOST = "tinesio.atlassian.net"
INTERACTIVE = "use-cases--slack--slack-interactive-bot-example.json"
CHATOPS = "blog--top_3_stories_you_didnt_know_you_needed--chatops.json"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeSlack, FakeJira]]:
    with FakeSlack(SLACK_TOKEN) as slack, FakeJira() as jira:
        yield slack, jira


@pytest.fixture
def slack(servers: tuple[FakeSlack, FakeJira]) -> FakeSlack:
    servers[0].reset()
    return servers[0]


@pytest.fixture
def jira(servers: tuple[FakeSlack, FakeJira]) -> FakeJira:
    servers[1].reset()
    return servers[1]


# -- the interactive bot ------------------------------------------------------------------------------


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch, database_url: str, slack: FakeSlack, jira: FakeJira) -> Iterator[Deployment]:
    install(database_url, [article_story(INTERACTIVE)],
            credentials=[creds.text("slack_interactive_bot_token", SLACK_TOKEN), creds.text("jira_svc_pwd", jira.token)],
            resources={"jira_domain": JIRA_HOST, "jira_svc_user": jira.user})
    # "Run to kick off test" fetches www.tines.io before the form data; any answer will do.
    hosts = {"slack.com": slack.url, JIRA_HOST: jira.url, "www.tines.io": slack.url}
    with deployment(monkeypatch, database_url, hosts) as running:
        yield running


def interact(running: Deployment, payload: dict[str, Any]) -> None:
    """What Slack does when someone clicks a button or closes a modal: a form POST with ``payload``."""
    url = running.webhook_url(article_story(INTERACTIVE), "Receive Interactive From Slack")
    response = running.client.post(url, data={"payload": json.dumps(payload)})
    assert response.status_code == 201, response.text


def sent_dm(running: Deployment, slack: FakeSlack) -> dict[str, Any]:
    slack.add_user("thomas@tines.io", id="U0THOMAS", name="thomas")
    running.run_action("Run to kick off test")
    [message] = eventually(lambda: slack.messages, what=running.logs)
    return message


def clicked(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    button = next(e for e in message["blocks"][2]["elements"] if e["action_id"] == action_id)
    return {"type": "block_actions", "trigger_id": "trigger-77", "user": {"id": "U0THOMAS"},
            "channel": {"id": "D0THOMAS"}, "message": {"ts": message["ts"], "text": message["text"]},
            "actions": [{"action_id": action_id, "block_id": "send_message_to_user", "value": button["value"]}]}


def comment(jira: FakeJira) -> str:
    [(issue, body)] = jira.comments
    assert issue == "DEMO-2558"
    return body["body"]


def test_the_bot_dms_the_user_found_by_email_with_two_buttons(bot: Deployment, slack: FakeSlack) -> None:
    message = sent_dm(bot, slack)
    assert message["channel"] == "U0THOMAS" and message["text"] == "This is a test message"
    [lookup] = slack.calls_to("/api/users.lookupByEmail")
    assert lookup.params == {"email": "thomas@tines.io"}
    assert {c.headers["authorization"] for c in slack.calls if c.path.startswith("/api/")} == {f"Bearer {SLACK_TOKEN}"}
    value = json.loads(message["blocks"][2]["elements"][0]["value"].removeprefix("-----"))
    assert value == {"incident_id": "DEMO-2558", "incident_type": "phishing", "username": "thomas@tines.io",
                     "slack_id": "U0THOMAS"}


def test_deny_updates_the_message_and_comments_on_the_jira_issue(
    bot: Deployment, slack: FakeSlack, jira: FakeJira
) -> None:
    message = sent_dm(bot, slack)
    interact(bot, clicked(message, "deny"))
    eventually(lambda: jira.comments, what=bot.logs)
    bot.settled()
    [update] = slack.calls_to("/api/chat.update")
    sent = update.json()
    assert sent["channel"] == "D0THOMAS"
    assert sent["text"].endswith("The Incident ID for this alert is *DEMO-2558*")
    assert comment(jira).startswith("The user has indicated that they did not carry out this activity.")
    assert slack.views == []


def test_confirm_opens_a_modal_whose_submission_reaches_jira(bot: Deployment, slack: FakeSlack, jira: FakeJira) -> None:
    message = sent_dm(bot, slack)
    interact(bot, clicked(message, "confirm"))
    [view] = eventually(lambda: slack.views, what=bot.logs)
    assert view["trigger_id"] == "trigger-77" and view["type"] == "modal"
    assert view["blocks"][0]["block_id"] == f'"{message["ts"]}",D0THOMAS'
    assert jira.comments == []

    interact(bot, {"type": "view_submission", "user": {"id": "U0THOMAS"}, "view": {
        "id": view["id"], "private_metadata": view["private_metadata"], "blocks": view["blocks"],
        "state": {"values": {"summary_textbox_block": {"response_summary": {"value": "I reset my own MFA"}}}}}})
    eventually(lambda: jira.comments, what=bot.logs)
    assert "bq. I reset my own MFA" in comment(jira)
    [update] = eventually(lambda: slack.calls_to("/api/chat.update"), what=bot.logs)
    assert update.json()["channel"] == "D0THOMAS"
    assert update.json()["blocks"][0]["text"]["text"].endswith("please quote the Incident ID: *DEMO-2558*")


def test_closing_the_modal_is_noted_on_the_jira_issue(bot: Deployment, slack: FakeSlack, jira: FakeJira) -> None:
    message = sent_dm(bot, slack)
    interact(bot, clicked(message, "confirm"))
    [view] = eventually(lambda: slack.views, what=bot.logs)
    interact(bot, {"type": "view_closed", "user": {"id": "U0THOMAS"},
                   "view": {"id": view["id"], "private_metadata": view["private_metadata"]}})
    eventually(lambda: jira.comments, what=bot.logs)
    assert "closed or cancelled the response window" in comment(jira)


# -- chatops: a sub-story that waits for a prompt click or times out ----------------------------------


def caller() -> dict[str, Any]:
    """A parent story as a user builds it: call the sub-story by name with the alert to ask about."""
    return story("Suspicious login", [
        agent(WEBHOOK, "Alert", path="alert", secret="s"),
        agent("Agents::SendToStoryAgent", "Ask the user", story="Slack Chat With Prompts", payload={
            "email": "alice@example.com",
            "message_blocks": ["*Alert*: \nSuspicious Login Detected", "*Location*: \nRome"],
            "positive_button": "I recognize this", "negative_button": "I don't recognize this"}),
    ], [(0, 1)])


@pytest.fixture
def chatops(monkeypatch: pytest.MonkeyPatch, database_url: str, slack: FakeSlack) -> Iterator[Deployment]:
    slack.add_user("alice@example.com", id="U0ALICE")
    install(database_url, [article_story(CHATOPS), caller()], credentials=[creds.text("slack", SLACK_TOKEN)])
    with deployment(monkeypatch, database_url, {"slack.com": slack.url}) as running:
        assert running.client.post("/webhook/alert/s", json={}).status_code == 201
        yield running


def asked(running: Deployment, slack: FakeSlack) -> dict[str, Any]:
    [message] = eventually(lambda: slack.messages, what=running.logs)
    return message


def test_the_prompt_message_lists_the_alert_and_the_click_is_returned(chatops: Deployment, slack: FakeSlack) -> None:
    message = asked(chatops, slack)
    assert message["channel"] == "U0ALICE"
    section, buttons = message["attachments"][0]["blocks"]
    assert section["fields"] == [{"type": "mrkdwn", "text": "*Alert*: \nSuspicious Login Detected"},
                                 {"type": "mrkdwn", "text": "*Location*: \nRome"}]
    assert [b["text"]["text"] for b in buttons["elements"]] == ["I recognize this", "I don't recognize this"]
    chatops.click(buttons["elements"][1]["url"])
    [returned] = eventually(lambda: chatops.outputs("Ask the user"), what=chatops.logs)
    assert returned == {"result": "negative"}
    # The hour passes: the delayed copy is deduplicated, so the caller hears once.
    chatops.time_passes()
    chatops.settled()
    assert chatops.outputs("Ask the user") == [{"result": "negative"}]


def test_no_click_within_the_hour_returns_no_response(chatops: Deployment, slack: FakeSlack) -> None:
    asked(chatops, slack)
    chatops.settled()
    assert chatops.outputs("Ask the user") == []
    chatops.time_passes()
    [returned] = eventually(lambda: chatops.outputs("Ask the user"), what=chatops.logs)
    assert returned == {"result": "no_response"}

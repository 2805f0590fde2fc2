"""The Slack stories the articles describe, imported unchanged, run end to end against fakes.

Credentials and placeholders are supplied the way a user would: ``storyline credential
set`` for the Slack bot token and the VirusTotal key, ``STORYLINE_EGRESS_OVERRIDES`` for
every outside host (the placeholder ``hooks.slack.com/services/xxxx`` included).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from storyline.credentials import model as creds
from tests.articles import Deployment, article_story, deployment, install
from tests.fakes.domain_age import FakeDomainAge
from tests.fakes.slack import FakeSlack
from tests.fakes.urlhaus import FakeUrlhaus
from tests.fakes.virustotal import FakeVirusTotal
from tests.support import eventually

SLACK_TOKEN = "xoxb-1111-article-bot"
VT_KEY = "vt-article-key-0042"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    with FakeSlack(SLACK_TOKEN) as slack, FakeVirusTotal(VT_KEY) as vt, FakeUrlhaus() as urlhaus, \
            FakeDomainAge() as age:
        yield {"slack": slack, "vt": vt, "urlhaus": urlhaus, "age": age}


@pytest.fixture
def fakes(servers: dict[str, Any]) -> dict[str, Any]:
    for server in servers.values():
        server.reset()
    return servers


def overrides(fakes: dict[str, Any]) -> dict[str, str]:
    return {"slack.com": fakes["slack"].url, "hooks.slack.com": fakes["slack"].url,
            "www.virustotal.com": fakes["vt"].url, "urlhaus-api.abuse.ch": fakes["urlhaus"].url,
            "ipty.de": fakes["age"].url}


# -- blog--slack-chatbot.json: /analyzedomain, enrichment, Block Kit reply with prompts --------------


@pytest.fixture
def chatbot(monkeypatch: pytest.MonkeyPatch, database_url: str, fakes: dict[str, Any]) -> Iterator[Deployment]:
    install(database_url, [article_story("blog--slack-chatbot.json")],
            credentials=[creds.text("slack_chatbot", SLACK_TOKEN), creds.text("virustotal", VT_KEY)])
    with deployment(monkeypatch, database_url, overrides(fakes)) as running:
        yield running


def slash_command(running: Deployment, text: str) -> Any:
    story = article_story("blog--slack-chatbot.json")
    return running.client.post(
        running.webhook_url(story, "receive commands"), headers=FORM,
        data={"token": "legacy-verification-token", "team_id": "T0001", "channel_id": "C0ANALYST",
              "user_id": "U0ALICE", "user_name": "alice", "command": "/analyzedomain", "text": text,
              "response_url": "https://hooks.slack.com/commands/T0001/1/abc"})


def test_analyzedomain_answers_at_once_then_posts_the_enrichment_with_prompt_buttons(
    chatbot: Deployment, fakes: dict[str, Any]
) -> None:
    fakes["vt"].set_domain("evil.example", category="phishing and other frauds")
    fakes["urlhaus"].add_host("evil.example", "http://evil.example/a.exe", "http://evil.example/b.exe")
    fakes["age"].ages["evil.example"] = 3

    response = slash_command(chatbot, "evil.example")
    assert response.status_code == 201
    assert response.text == "Hi alice! Thanks for submitting your /analyzedomain request to Tines, we're analyzing now"

    [message] = eventually(lambda: fakes["slack"].messages, what=chatbot.logs)
    [post] = fakes["slack"].calls_to("/api/chat.postMessage")
    assert post.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert message["channel"] == "C0ANALYST"
    blocks = message["attachments"][0]["blocks"]
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Domain:*\nevil.example",
        "*Forcepoint Categorization:*\nphishing and other frauds",
        "*URLHaus Categorization:*\nMalicious",
        "*Domain Age:*\n3 day(s) old",
    ]
    # Each enrichment was asked about the domain, with the key where the API wants it.
    [vt] = fakes["vt"].calls_to("/vtapi/v2/domain/report")
    assert vt.params == {"apikey": VT_KEY, "domain": "evil.example"}
    [urlhaus] = fakes["urlhaus"].calls
    assert urlhaus.form() == {"host": "evil.example"}
    [age] = fakes["age"].calls
    assert age.multi_params["domain"][-1] == "evil.example" and age.params["mode"] == "full"
    # The basic reply is disabled in the export, so only the rich one went out.
    assert len(fakes["slack"].messages) == 1
    assert VT_KEY not in json.dumps(chatbot.events()) and SLACK_TOKEN not in json.dumps(chatbot.events())

    # The buttons are prompt links; "Block Domain" fires only the block trigger.
    whitelist, block = (e["url"] for e in blocks[2]["elements"])
    chatbot.click(block)
    eventually(lambda: chatbot.events("trigger to block"), what=chatbot.logs)
    chatbot.settled()
    assert chatbot.events("trigger to whitelist") == []
    [blocked] = chatbot.events("trigger to block")
    assert blocked["payload"]["explode_domains"]["individual_domain"] == "evil.example"
    assert whitelist != block


def test_a_clean_domain_and_several_domains_in_one_command(chatbot: Deployment, fakes: dict[str, Any]) -> None:
    fakes["vt"].set_domain("good.example", category="business")
    slash_command(chatbot, "good.example and other.example")
    eventually(lambda: len(fakes["slack"].messages) == 2, what=chatbot.logs)
    by_domain = {m["attachments"][0]["blocks"][1]["fields"][0]["text"].split("\n")[1]: m
                 for m in fakes["slack"].messages}
    assert set(by_domain) == {"good.example", "other.example"}
    good = [f["text"] for f in by_domain["good.example"]["attachments"][0]["blocks"][1]["fields"]]
    assert good[1:3] == ["*Forcepoint Categorization:*\nbusiness", "*URLHaus Categorization:*\nClean"]


def test_other_commands_are_acknowledged_but_not_analyzed(chatbot: Deployment, fakes: dict[str, Any]) -> None:
    story = article_story("blog--slack-chatbot.json")
    response = chatbot.client.post(chatbot.webhook_url(story, "receive commands"), headers=FORM,
                                   data={"user_name": "bob", "command": "/weather", "text": "dublin",
                                         "channel_id": "C1"})
    assert response.text.startswith("Hi bob! Thanks for submitting your /weather request")
    chatbot.settled()
    assert fakes["vt"].calls == [] and fakes["slack"].messages == []


def test_interactive_payloads_are_parsed_from_the_form_field(chatbot: Deployment) -> None:
    story = article_story("blog--slack-chatbot.json")
    payload = {"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": [{"action_id": "x", "value": "1"}]}
    response = chatbot.client.post(chatbot.webhook_url(story, "Receive Slack Interactive Webhook"),
                                   headers=FORM, data={"payload": json.dumps(payload)})
    assert response.status_code == 201
    [parsed] = eventually(lambda: chatbot.outputs("parse json"), what=chatbot.logs)
    assert parsed == {"message": payload}  # a legacy message_only emits its options as keys


def test_a_direct_message_to_a_user_found_by_email(chatbot: Deployment, fakes: dict[str, Any]) -> None:
    user = fakes["slack"].add_user("thomas@tines.io", name="thomas")
    chatbot.run_action("search slack users by email")
    [message] = eventually(lambda: fakes["slack"].messages, what=chatbot.logs)
    assert message["channel"] == user["id"]
    [lookup] = fakes["slack"].calls_to("/api/users.lookupByEmail")
    assert lookup.params["email"] == "thomas@tines.io"
    assert lookup.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    buttons = message["attachments"][0]["blocks"][2]["elements"]
    chatbot.click(buttons[1]["url"])
    [answered] = eventually(lambda: [o for o in chatbot.outputs("send slack message by DM") if "prompt" in o], what=chatbot.logs)
    assert answered["prompt"]["status"] == "unrecognized"


def test_the_incoming_webhook_placeholder_is_overridden_not_edited(chatbot: Deployment, fakes: dict[str, Any]) -> None:
    chatbot.run_action("Post Message to Webhook")
    [posted] = eventually(lambda: fakes["slack"].webhook_posts, what=chatbot.logs)
    assert posted == {"path": "/services/xxxx/xxxx/xxxx", "payload": {"text": "P2 Alert: a host has just been isolated"}}

"""What the chat console sends and how it shows Slack messages in a terminal."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from storyline.chat.slack_console import Answer, ConsoleError, Hook, choose, credential_name, render, request


def test_a_leading_slash_is_a_slash_command_form() -> None:
    content_type, body = request("/analyzedomain example.com evil.example", "ana")
    form = dict(parse_qsl(body.decode()))
    assert content_type == "application/x-www-form-urlencoded"
    assert (form["command"], form["text"], form["user_name"]) == ("/analyzedomain", "example.com evil.example", "ana")
    assert form["response_url"].startswith("https://hooks.slack.com/commands/")


def test_other_text_is_an_app_mention_event() -> None:
    content_type, body = request("analyzedomain example.com", "ana")
    envelope = json.loads(body)
    assert content_type == "application/json" and envelope["type"] == "event_callback"
    assert envelope["event"]["type"] == "app_mention"
    assert envelope["event"]["text"].endswith("> analyzedomain example.com")
    assert envelope["event_id"] != json.loads(request("analyzedomain example.com", "ana")[1])["event_id"]


def test_blocks_render_as_lines_with_buttons() -> None:
    message = {"text": "fallback", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Verdict"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*evil.example* is phishing"},
         "fields": [{"type": "mrkdwn", "text": "VT: 12/90"}]},
        {"type": "divider"},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Block"}, "action_id": "block",
             "value": "evil.example"},
            {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://x.example/p"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "by storyline"}]},
    ]}
    assert render(message) == ["Verdict", "*evil.example* is phishing", "VT: 12/90", "---",
                               "  [Block] click: --click block --value evil.example", "  [Open] -> https://x.example/p",
                               "by storyline"]
    assert render({"text": "plain"}) == ["plain"]
    assert render({"blocks": json.dumps(message["blocks"][:1])}) == ["Verdict"]  # form-encoded blocks


def test_an_answer_says_where_it_came_from() -> None:
    assert Answer("chat.postMessage", {"channel": "C1", "text": "hi"}).lines() == ["bot (chat.postMessage C1): hi"]
    assert Answer("users.lookupByEmail", {"email": "a@x.example", "token": "xoxb"}).lines() == [
        "bot (users.lookupByEmail) email=a@x.example"]


def test_the_signing_secret_comes_from_the_credential_the_option_names() -> None:
    assert credential_name("{% credential slack_signing_secret %}") == "slack_signing_secret"
    assert credential_name("{{ .CREDENTIAL.my-slack }}") == "my-slack"
    assert credential_name(["{% credential new_one %}", "{% credential old_one %}"]) == "new_one"
    assert credential_name("written-out-secret") is None


HOOKS = [Hook("Bot", "Receive Slack", "slack", "", "s"), Hook("Other", "Slack in", "other", "x", "s")]


def test_choosing_the_webhook() -> None:
    assert choose(HOOKS, "Other").path == "other"
    assert choose(HOOKS, "/webhook/slack").name == "Receive Slack"
    assert choose(HOOKS[:1], None).story == "Bot"
    assert HOOKS[1].url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/webhook/other/x"
    with pytest.raises(ConsoleError, match="choose one with --webhook"):
        choose(HOOKS, None)
    with pytest.raises(ConsoleError, match="no webhook with Slack verification matches 'nope'"):
        choose(HOOKS, "nope")
    with pytest.raises(ConsoleError, match="slack_receive"):
        choose([], None)

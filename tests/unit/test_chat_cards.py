"""What the playground draws of a bot's Slack message or Teams activity, and what each button sends."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from storyline.chat.cards import Span, markdown, mrkdwn, safe_url, slack_message, teams_activity
from storyline.chat.slack_console import click

VERDICT_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*1 domain analysed* for <@U1>: `/analyzedomain x`"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": ":red_circle: *evil-example.com*: malicious"}},
    {"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "action_id": "whitelist:evil-example.com", "value": "evil-example.com",
         "text": {"type": "plain_text", "text": "Whitelist"}},
        {"type": "button", "style": "danger", "action_id": "block:evil-example.com", "value": "evil-example.com",
         "text": {"type": "plain_text", "text": "Block"}}]},
    {"type": "divider"},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "asked by _ana_"}]},
]


def test_slack_mrkdwn_becomes_spans_of_text_with_emphasis_and_safe_links() -> None:
    assert mrkdwn("*bold* _it_ ~gone~ `x < y` :red_circle: <@U1> <#C1|sec>") == (
        Span("bold", bold=True), Span(" "), Span("it", italic=True), Span(" "), Span("gone", strike=True),
        Span(" "), Span("x < y", code=True), Span(" "), Span("\U0001f534"), Span(" "), Span("@U1", bold=True),
        Span(" "), Span("#sec", bold=True))
    assert mrkdwn("<https://example.com/a?b=1&amp;c=2|the report>") == (
        Span("the report", href="https://example.com/a?b=1&c=2"),)
    assert mrkdwn("<javascript:alert(1)|click>") == (Span("click"),)
    assert mrkdwn("&lt;script&gt;") == (Span("<script>"),)


def test_teams_markdown_keeps_links_only_to_web_addresses() -> None:
    assert markdown("**b** [ok](https://x.example/) [no](javascript:alert(1))")[:3] == (
        Span("b", bold=True), Span(" "), Span("ok", href="https://x.example/"))
    assert all(span.href is None for span in markdown("[no](javascript:alert(1)) [no](data:text/html,x)"))


def test_a_verdict_message_shows_its_blocks_and_each_button_says_what_slack_reports_when_clicked() -> None:
    card = slack_message({"text": "fallback", "blocks": VERDICT_BLOCKS})
    assert [block.kind for block in card.blocks] == ["text", "text", "buttons", "divider", "context"]
    whitelist, block = card.buttons
    assert (whitelist.label, whitelist.style, block.style) == ("Whitelist", "", "danger")
    assert block.slack == {"type": "button", "block_id": "decide", "action_id": "block:evil-example.com",
                           "value": "evil-example.com", "text": {"type": "plain_text", "text": "Block", "emoji": True}}
    assert card.button(1) is block and card.button(2) is None and card.button(-1) is None


def test_a_click_is_sent_as_a_block_actions_form_with_a_fresh_response_url() -> None:
    button = slack_message({"blocks": VERDICT_BLOCKS}).buttons[1]
    assert button.slack is not None
    content_type, body = click(button.press, "ana", message={"text": "t", "ts": "1.2"})
    assert content_type == "application/x-www-form-urlencoded"
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["username"] == "ana"
    assert payload["actions"][0]["action_id"] == "block:evil-example.com" and payload["actions"][0]["action_ts"]
    assert payload["response_url"].startswith("https://hooks.slack.com/actions/")
    assert payload["container"]["message_ts"] == "1.2"


def test_a_teams_card_shows_text_facts_columns_and_buttons_with_their_submit_data() -> None:
    card = teams_activity({"text": "**hi**", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "body": [{"type": "TextBlock", "text": "bad", "weight": "Bolder", "color": "Attention", "separator": True},
                     {"type": "FactSet", "facts": [{"title": "VirusTotal", "value": "12/94"}]},
                     {"type": "ColumnSet", "columns": [{"items": [{"type": "TextBlock", "text": "left"}]},
                                                       {"items": [{"type": "TextBlock", "text": "right"}]}]},
                     {"type": "ActionSet", "actions": [
                         {"type": "Action.Submit", "title": "Block", "style": "destructive",
                          "data": {"decision": "block", "indicator": "x"}}]}],
            "actions": [{"type": "Action.OpenUrl", "title": "Report", "url": "https://x.example/r"},
                        {"type": "Action.OpenUrl", "title": "Bad", "url": "javascript:alert(1)"}]}}]})
    assert [block.kind for block in card.blocks] == ["text", "text", "facts", "columns", "buttons", "buttons"]
    assert card.blocks[1].tones == ("bold", "attention")
    submit, report, bad = card.buttons
    assert submit.submit == {"decision": "block", "indicator": "x"} and submit.style == "danger" and submit.sends
    assert report.url == "https://x.example/r" and not report.sends
    assert bad.url is None and bad.unsafe_url == "javascript:alert(1)" and not bad.sends


def test_whatever_shape_a_message_has_it_is_drawn_or_named_never_an_error() -> None:
    shapes: list[Any] = [{}, {"blocks": "not json"}, {"blocks": {"a": 1}}, {"blocks": [1, None, "x", {"type": 7}]},
                         {"blocks": json.dumps(VERDICT_BLOCKS)}, {"attachments": [{"text": "t", "fields": [1]}]}]
    for shape in shapes:
        slack_message(shape)
    deep: dict[str, Any] = {"type": "Container", "items": []}
    for _ in range(50):
        deep = {"type": "Container", "items": [deep]}
    card = teams_activity({"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                            "content": {"body": [deep], "actions": "x"}}, "junk", {"content": 1}]})
    assert any(block.kind == "note" for block in card.blocks)
    assert teams_activity({"text": "x" * 10_000}).blocks[0].text[0].text == "x" * 3000
    assert safe_url("https://ok.example/") and not safe_url("https:// spaced") and not safe_url("//x") and not safe_url(5)

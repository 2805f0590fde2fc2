"""The buttons of a bot's message, as a person sees them, and what clicking each sends."""

from __future__ import annotations

import json
import shlex
from urllib.parse import parse_qs

from storyline.chat.buttons import Button, slack_buttons, slack_click, slack_flagged, teams_buttons
from storyline.chat.slack_console import click
from storyline.chat.teams_console import describe

VERDICT_CARD = {"type": "AdaptiveCard", "body": [
    {"type": "TextBlock", "text": "evil-example.com: malicious"},
    {"type": "TextBlock", "text": "- VirusTotal: 12/94\n- URLhaus: 3 malware URLs"},
    {"type": "ActionSet", "actions": [
        {"type": "Action.Submit", "title": "Whitelist", "data": {"decision": "whitelist", "indicator": "evil-example.com"}},
        {"type": "Action.Submit", "title": "Block", "style": "destructive",
         "data": {"decision": "block", "indicator": "evil-example.com"}}]},
    {"type": "Container", "items": [{"type": "ActionSet", "actions": [
        {"type": "Action.OpenUrl", "title": "Open report", "url": "https://example.com/r"}]}]}],
    "actions": [{"type": "Action.Execute", "title": "Refresh", "verb": "refresh"}]}


def activity(card: dict[str, object]) -> dict[str, object]:
    return {"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


def test_teams_buttons_inside_action_sets_at_any_depth_are_found_in_the_order_shown() -> None:
    found = teams_buttons(activity(VERDICT_CARD))
    assert [b.label for b in found] == ["Whitelist", "Block", "Open report", "Refresh"]
    assert found[1].sends == {"decision": "block", "indicator": "evil-example.com"} and found[1].clickable
    assert found[2].url == "https://example.com/r" and not found[2].clickable
    assert not found[3].clickable  # Action.Execute is an invoke, which the console does not send
    assert teams_buttons(VERDICT_CARD) == found  # a card alone reads the same


def test_a_teams_buttons_console_flags_are_the_exact_value_that_clicks_it() -> None:
    block = teams_buttons(activity(VERDICT_CARD))[1]
    flags = shlex.split(block.console_flags())
    assert flags[0] == "--value" and json.loads(flags[1]) == block.sends


def test_the_teams_console_prints_each_button_under_the_text_it_belongs_to() -> None:
    assert describe(activity(VERDICT_CARD)) == [
        "evil-example.com: malicious", "- VirusTotal: 12/94", "- URLhaus: 3 malware URLs",
        "  [Whitelist] click: --value '{\"decision\":\"whitelist\",\"indicator\":\"evil-example.com\"}'",
        "  [Block] click: --value '{\"decision\":\"block\",\"indicator\":\"evil-example.com\"}'",
        "  [Open report] -> https://example.com/r",
        "  [Refresh] (Action.Execute: the console cannot click it)"]


def test_a_card_nested_beyond_reason_is_read_no_deeper() -> None:
    card: dict[str, object] = {"type": "AdaptiveCard", "body": []}
    inner = card
    for _ in range(5000):
        child: dict[str, object] = {"type": "Container", "items": []}
        inner["body" if inner is card else "items"] = [child]
        inner = child
    assert teams_buttons(card) == []
    assert describe(activity(card)) == []


def test_slack_buttons_of_actions_blocks_and_accessories_and_the_flags_that_click_them() -> None:
    message = {"blocks": json.dumps([
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": {
            "type": "button", "text": {"type": "plain_text", "text": "Details"}, "action_id": "details", "value": "a b"}},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Block"}, "action_id": "block:x.com",
             "value": "x.com", "style": "danger"},
            {"type": "static_select", "action_id": "pick"}]}])}
    found = slack_buttons(message)
    assert found == [Button("slack", "Details", "button", sends="a b", action_id="details"),
                     Button("slack", "Block", "button", sends="x.com", action_id="block:x.com", style="danger")]
    assert shlex.split(found[0].console_flags()) == ["--click", "details", "--value", "a b"]


def test_a_slack_click_is_the_block_actions_payload_slack_posts() -> None:
    button = slack_buttons({"blocks": [{"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Block"}, "action_id": "block:x.com",
         "value": "x.com"}]}]})[0]
    payload = slack_click(button, user_id="U1", user_name="ana", team_id="T1", channel_id="C1",
                          response_url="https://hooks.slack.com/actions/T1/1/x")
    assert payload["type"] == "block_actions" and payload["user"]["username"] == "ana"
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["text"]["text"]) == ("block:x.com", "x.com", "Block")
    assert action["block_id"] == "decide" and action["action_ts"]


def test_the_consoles_click_flags_send_what_clicking_the_button_itself_sends() -> None:
    button = slack_buttons({"blocks": [{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Block"}, "action_id": "block:x.com",
         "value": "x.com"}]}]})[0]
    flags = shlex.split(button.console_flags())
    flagged = slack_flagged(flags[1], flags[3])
    assert {k: v for k, v in flagged.slack_action().items() if k != "text"} == {
        k: v for k, v in button.slack_action().items() if k != "text"}
    content_type, body = click(flagged, "ana")
    assert content_type == "application/x-www-form-urlencoded"
    sent = json.loads(parse_qs(body.decode())["payload"][0])
    assert sent["actions"][0]["action_id"] == "block:x.com" and sent["actions"][0]["value"] == "x.com"
    assert sent["response_url"].startswith("https://hooks.slack.com/actions/")


def test_a_slack_link_button_still_reaches_the_bot_and_a_teams_one_does_not() -> None:
    [link] = slack_buttons({"blocks": [{"type": "actions", "elements": [
        {"type": "button", "text": "Open", "action_id": "open", "url": "https://example.com/r"}]}]})
    assert link.clickable and link.slack_action()["url"] == "https://example.com/r"
    assert not teams_buttons(activity(VERDICT_CARD))[2].clickable

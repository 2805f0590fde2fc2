"""/playground in Chromium against `storyline serve --demo`: chat as Slack and Teams, click, and stay safe."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Page
from tests.browser.demo import ANSWER_WITHIN, Demo

pytestmark = pytest.mark.slow

HOSTILE = ("<script>window.pwned=1;alert(1)</script>", '"><img src=x onerror=alert(2)>', "<svg onload=alert(3)>")


def test_a_slack_slash_command_gets_its_verdict_and_a_click_on_block_drives_the_story(page: Page, demo: Demo) -> None:
    banner = demo.process.output().splitlines()[0]
    assert banner.startswith(f"playground: {demo.url}/playground")  # make run's first line
    tab = page.tab
    tab.goto(f"{demo.url}/playground")
    page.shoot("empty")
    slack = tab.locator("section#slack")
    slack.get_by_label("Message to the Slack bot").fill("/analyzedomain evil-example.com")
    slack.get_by_role("button", name="Send").click()

    verdict = slack.locator("li.who-bot", has_text="evil-example.com: malicious").last
    expect(verdict).to_be_visible(timeout=ANSWER_WITHIN)
    expect(verdict.locator("strong", has_text="evil-example.com")).to_be_visible()
    expect(verdict).to_contain_text("VirusTotal: 12/94 engines flag it as malicious")
    expect(verdict).to_contain_text("\U0001f534")  # :red_circle:
    page.shoot("slack-verdict")

    verdict.get_by_role("button", name="Block").click()
    expect(slack.locator("li.who-bot", has_text="chose to block evil-example.com")).to_be_visible(
        timeout=ANSWER_WITHIN)
    page.shoot("slack-clicked")
    assert page.dialogs == [] and page.violations == []


def test_a_teams_message_gets_its_card_and_a_click_on_whitelist_drives_the_story(page: Page, demo: Demo) -> None:
    tab = page.tab
    tab.goto(f"{demo.url}/playground")
    teams = tab.locator("section#teams")
    teams.get_by_label("You are").fill("Bob Teams")
    teams.get_by_label("Message to the Teams bot").fill("analyzedomain evil-example.com")
    teams.get_by_label("Message to the Teams bot").press("Enter")

    card = teams.locator("li.who-bot", has_text="evil-example.com: malicious").last
    expect(card).to_be_visible(timeout=ANSWER_WITHIN)
    expect(card.locator(".t-attention")).to_have_text("evil-example.com: malicious")
    page.shoot("teams-card")

    card.get_by_role("button", name="Whitelist").click()
    expect(teams.locator("li.who-bot", has_text="Bob Teams chose to whitelist evil-example.com")).to_be_visible(
        timeout=ANSWER_WITHIN)
    page.shoot("teams-clicked")
    assert page.dialogs == [] and page.violations == []


def test_hostile_message_text_and_javascript_links_stay_inert(page: Page, demo: Demo) -> None:
    script, img, svg = HOSTILE
    # What a story could send the demo's Slack and Teams: every field hostile.
    slack = httpx.post(f"{demo.url}/_sandbox/slack/api/chat.postMessage", headers={"authorization": "Bearer x"}, json={
        "channel": "CHOSTILE", "text": script, "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": script},
             "fields": [{"type": "mrkdwn", "text": img},
                        {"type": "mrkdwn", "text": "&lt;b&gt;escaped&lt;/b&gt; <javascript:alert(4)|open me>"}]},
            {"type": "context", "elements": [{"type": "plain_text", "text": svg}]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": img}, "url": "javascript:alert(5)"},
                {"type": "button", "text": {"type": "plain_text", "text": "JS value"}, "value": script}]},
            {"type": f"{svg}"}]})
    assert slack.json()["ok"] is True
    teams = httpx.post(f"{demo.url}/_sandbox/teams/workflows/hostile", json={"attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "type": "AdaptiveCard", "body": [
                {"type": "TextBlock", "text": script, "color": 'Attention" onmouseover="alert(6)'},
                {"type": "FactSet", "facts": [{"title": img, "value": "[click](javascript:alert(7))"}]},
                {"type": "ColumnSet", "columns": [{"items": [{"type": "TextBlock", "text": svg}]}]}],
            "actions": [{"type": "Action.OpenUrl", "title": img, "url": "javascript:alert(8)"}]}}]})
    assert teams.status_code == 202

    tab = page.tab
    tab.goto(f"{demo.url}/playground")
    slack_side, teams_side = tab.locator("section#slack"), tab.locator("section#teams")
    # Through the story too: the bot repeats what the user typed.
    slack_side.get_by_label("Message to the Slack bot").fill(f"/analyzedomain {img}")
    slack_side.get_by_role("button", name="Send").click()
    expect(slack_side.locator("li.who-bot", has_text="No domains found in").last).to_contain_text(
        img, timeout=ANSWER_WITHIN)

    expect(slack_side.get_by_text(script).first).to_be_visible()
    expect(slack_side.get_by_text(svg).first).to_be_visible()
    expect(teams_side.get_by_text(script).first).to_be_visible()
    expect(teams_side.locator("dt", has_text=img)).to_be_visible()
    page.shoot("hostile")

    for inert in tab.locator(".btn.inert").all():
        inert.click()
    expect(slack_side.get_by_text("<b>escaped</b>")).to_be_visible()
    expect(slack_side.get_by_text("open me")).to_be_visible()
    assert slack_side.get_by_role("link", name="open me").count() == 0
    tab.locator("section#slack li.who-bot", has_text="JS value").last.get_by_role("button", name="JS value").click()
    expect(slack_side.locator("li.who-you", has_text="clicked \u201cJS value\u201d")).to_be_visible()

    assert page.dialogs == []
    assert tab.evaluate("window.pwned") is None
    assert tab.locator("img, svg, iframe, object, embed").count() == 0
    assert tab.locator("script").count() == 1
    assert tab.locator("[onerror], [onload], [onmouseover], [onclick]").count() == 0
    assert tab.locator("a[href^='javascript' i]").count() == 0
    assert page.violations == []

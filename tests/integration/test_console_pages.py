"""The console's pages over HTTP: their headers, their static files, and the playground's rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storyline.chat.cards import slack_message, teams_activity
from storyline.config import Settings
from storyline.store.db import make_engine, upgrade
from storyline.web.app import create_app
from storyline.web.console.playground import MAX_FORM_BYTES, Turn
from storyline.web.pages import CONSOLE_CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY, FORM_PAGE_POLICY
from storyline.web.templates import fragment
from tests.apiclient import Api, api_on

HTML = {"accept": "text/html"}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path}/demo.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with TestClient(create_app(Settings(database_url=url, sandbox=True), worker=False)) as client:
        yield client


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Api]:
    with api_on(f"sqlite:///{tmp_path}/served.db") as api:
        yield api


def test_console_pages_carry_the_console_policy_and_other_answers_keep_the_strict_one(demo: TestClient) -> None:
    page = demo.get("/playground", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONSOLE_CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONSOLE_CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert '<script src="/static/console.js" defer></script>' in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text and "style=" not in page.text
    for label in ("Stories", "Runs", "Events", "Credentials", "Resources", "Packs", "Audit", "Users", "Tokens"):
        assert f">{label}</a>" in page.text
    assert '<a href="/playground" aria-current="page">Playground</a>' in page.text
    for other in ("/healthz", "/_sandbox/messages", "/webhook/nothing-here"):
        assert demo.get(other).headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The index has the sign-out form: its form may post here, and nothing else is loosened.
    assert demo.get("/").headers["content-security-policy"] == FORM_PAGE_POLICY


def test_the_console_files_are_served_from_the_package(demo: TestClient) -> None:
    script = demo.get("/static/console.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "eval(" not in script.text
    assert demo.get("/static/console.css").headers["content-type"].startswith("text/css")
    assert demo.get("/static/../templates.py").status_code == 404
    assert demo.get("/static/nothing.js").status_code == 404


def test_the_demo_index_points_at_the_playground(demo: TestClient) -> None:
    assert "/playground" in demo.get("/").text


def test_without_the_demo_the_playground_needs_an_editor_and_says_to_start_the_demo(served: Api) -> None:
    browser = served.client.get("/playground", headers=HTML, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"] == "/login?next=%2Fplayground"
    assert served.get("/playground", "viewer").status_code == 403
    page = served.get("/playground", "editor")
    assert page.status_code == 200 and "storyline serve --demo" in page.text
    said = served.send("POST", "/playground/slack/say", "editor", data={"text": "/analyzedomain x"})
    assert said.status_code == 409 and "serve --demo" in said.json()["error"]


def test_the_playground_refuses_what_its_page_would_not_send(demo: TestClient) -> None:
    def say(platform: str = "slack", headers: dict[str, str] | None = None, **form: str) -> int:
        return demo.post(f"/playground/{platform}/say", data=form, headers=headers or {},
                         follow_redirects=False).status_code

    assert say(text="/analyzedomain x", headers={"origin": "https://elsewhere.example"}) == 403
    assert say(text="/analyzedomain x", headers={"sec-fetch-site": "cross-site"}) == 403
    assert say(text="") == 422
    assert say(text="x" * 2001) == 422
    assert say(text="x" * (MAX_FORM_BYTES + 1)) == 422
    assert say("irc", text="hello") == 404
    assert say(text="/analyzedomain x") == 409  # no story verifies Slack requests here
    clicked = demo.post("/playground/slack/click", data={"turn": "o999", "button": "0"}, follow_redirects=False)
    assert clicked.status_code == 404
    assert demo.post("/playground/slack/click", data={"turn": "o1", "button": "-1"}).status_code == 422
    assert demo.get("/playground/slack/transcript").status_code == 200


def test_a_transcript_draws_hostile_messages_as_text() -> None:
    hostile = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    slack = {"text": hostile, "blocks": [
        {"type": "section", "text": {"type": "plain_text", "text": hostile}, "fields": [hostile]},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": hostile}, "url": "javascript:alert(3)",
             "style": '" onclick="alert(4)'},
            {"type": "button", "text": {"type": "plain_text", "text": "ok"}, "value": hostile}]}]}
    teams = {"text": f"[{hostile}](javascript:alert(5)) **{hostile}**", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "body": [{"type": "TextBlock", "text": hostile, "color": '"><script>alert(6)</script>'},
                     {"type": "FactSet", "facts": [{"title": hostile, "value": hostile}]}],
            "actions": [{"type": "Action.OpenUrl", "title": hostile, "url": "javascript:alert(7)"},
                        {"type": "Action.Submit", "title": hostile, "data": {"x": hostile}}]}}]}
    turns = [Turn("o1", "slack", "bot", 0.0, card=slack_message(slack)),
             Turn("o2", "teams", "bot", 0.0, card=teams_activity(teams)),
             Turn("p1", "slack", "you", 0.0, via=hostile, text=hostile)]
    html = fragment("console/_transcript.html", {"platform": "slack", "turns": turns})
    assert "<img" not in html and "<script" not in html
    assert "onclick" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html

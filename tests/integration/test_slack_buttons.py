"""Slack buttons drive the story on: interactive clicks and link buttons carrying prompt URLs.

The real app runs with its worker. A slash command starts the story, which posts a
message with buttons to the Slack fake (the shipped ``slack_interactive_buttons``
template: each button's value is a ``{% prompt %}`` URL). Slack posts the click, signed,
to the same webhook; the click answers the prompt in the story run that asked, and
the story sees which button, who clicked and when.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.chat.templates import TEMPLATES
from storyline.config import Settings
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.store.queries import list_events
from storyline.web.app import create_app
from tests.builders import TRIGGER, agent, story
from tests.fakes.slack import FakeSlack
from tests.harness import load_stories
from tests.support import eventually

PUBLIC = "https://storyline.example"
FORM = "application/x-www-form-urlencoded"


def bot() -> dict[str, Any]:
    receive = copy.deepcopy(TEMPLATES["slack_receive"]["action"])
    ask = copy.deepcopy(TEMPLATES["slack_interactive_buttons"]["action"])
    reply = copy.deepcopy(TEMPLATES["slack_reply_response_url"]["action"])
    reply["options"]["url"] = "{{.ask_in_slack_with_buttons.prompt.response_url}}"
    reply["options"]["payload"] = {
        "replace_original": True,
        "text": "{{.receive_slack.text}}: {{.ask_in_slack_with_buttons.prompt.status}} by "
                "{{.ask_in_slack_with_buttons.prompt.user_name}}"}
    return story("Slack bot", [
        receive,
        agent(TRIGGER, "Is a command", rules=[
            {"type": "field==value", "path": "{{.receive_slack.command}}", "value": "/block"}]),
        ask, reply,
    ], [(0, 1), (1, 2), (2, 3)])


class Workspace:
    """Slack's side: signs what it sends to the app, and holds what the app posted."""

    def __init__(self, client: TestClient, slack: FakeSlack, database_url: str) -> None:
        self.client = client
        self.slack = slack
        self.engine = make_engine(database_url)

    def send(self, form: dict[str, str]) -> Any:
        body = urlencode(form).encode()
        return self.client.post("/webhook/slack", content=body,
                                headers={"content-type": FORM, **self.slack.signed(body)})

    def click(self, message: dict[str, Any], index: int, user: str = "ana", **changes: Any) -> Any:
        button = message["blocks"][1]["elements"][index]
        action = {"action_id": button["action_id"], "block_id": "decision", "type": "button",
                  "value": button["value"], "text": button["text"], "action_ts": f"{time.time():.6f}", **changes}
        payload = {"type": "block_actions", "user": {"id": "U0ANA", "username": user, "team_id": "T1"},
                   "channel": {"id": message["channel"]}, "token": "legacy",
                   "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
                   "response_url": "https://hooks.slack.com/actions/T1/42/xyz", "actions": [action]}
        return self.send({"payload": json.dumps(payload)})

    def events(self, action: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return list_events(conn, action=action, limit=10_000)

    def runs(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(t.story_runs)).scalar_one()


@pytest.fixture
def workspace(database_url: str, slack: FakeSlack) -> Iterator[Workspace]:
    load_stories(database_url, bot())
    engine = make_engine(database_url)
    with engine.begin() as conn:
        cipher = Cipher.for_database(database_url)
        save_credential(conn, cipher, creds.text("slack_signing_secret", slack.signing_secret), time.time())
        save_credential(conn, cipher, creds.text("slack_bot_token", slack.token), time.time())
    engine.dispose()
    settings = Settings(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05,
                        sqlite_synchronous="NORMAL",
                        egress_overrides={"slack.com": slack.url, "hooks.slack.com": slack.url})
    with TestClient(create_app(settings)) as client:
        workspace = Workspace(client, slack, database_url)
        yield workspace
        workspace.engine.dispose()


def test_an_interactive_button_click_answers_the_prompt_in_the_run_that_asked(workspace: Workspace) -> None:
    assert workspace.send({"command": "/block", "text": "evil.example", "user_name": "ana",
                           "channel_id": "C1", "response_url": "https://hooks.slack.com/commands/T1/1/a"}
                          ).status_code == 200
    [message] = eventually(lambda: workspace.slack.messages)
    assert message["blocks"][1]["elements"][0]["value"].startswith(f"{PUBLIC}/prompt?")
    runs = workspace.runs()

    response = workspace.click(message, 0)
    assert response.status_code == 200 and response.text == ""
    [reply] = eventually(lambda: workspace.slack.replies)
    assert reply == {"path": "/actions/T1/42/xyz",
                     "payload": {"replace_original": True, "text": "evil.example: block by ana"}}
    [asked] = workspace.events("Ask in Slack with buttons")[1:]  # the post, then the answer
    prompt = asked["output"]["prompt"]
    assert {k: prompt[k] for k in ("status", "action_id", "button", "user_id", "user_name", "channel_id")} == {
        "status": "block", "action_id": "block", "button": "Block", "user_id": "U0ANA", "user_name": "ana",
        "channel_id": "C1"}
    assert prompt["clicked_at"] and prompt["answered_at"]
    assert asked["story_run"] == workspace.events("Receive Slack")[0]["story_run"]
    assert workspace.runs() == runs  # the click started no new run


def test_a_click_with_a_forged_prompt_url_is_refused(workspace: Workspace) -> None:
    workspace.send({"command": "/block", "text": "evil.example", "channel_id": "C1"})
    [message] = eventually(lambda: workspace.slack.messages)
    # The message reaches Slack before the action that sent it records its event.
    eventually(lambda: len(workspace.events("Ask in Slack with buttons")) == 1, what="the ask recorded")
    value = message["blocks"][1]["elements"][1]["value"]  # "ignore"
    parts = urlsplit(value)
    forged = value.replace("s=ignore", "s=block")
    assert forged != value and parts.path == "/prompt"
    response = workspace.click(message, 1, value=forged)
    assert response.status_code == 403
    assert len(workspace.events("Ask in Slack with buttons")) == 1 and workspace.slack.replies == []

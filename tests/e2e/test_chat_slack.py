"""`storyline chat slack` against a real `storyline serve`: a user tries a Slack bot with no workspace.

The story is built from the shipped templates, as a user would paste them. The server
runs with slack.com and hooks.slack.com overridden to the console's sink, so the
story's replies (response_url, chat.postMessage with prompt buttons) reach the
console, which prints them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyline.chat.templates import TEMPLATES
from tests.builders import story
from tests.e2e.processes import cli, environment, free_port, serve

pytestmark = pytest.mark.slow

SIGNING_SECRET = "e2e-signing-secret-0123456789"
BOT_TOKEN = "xoxb-e2e-bot-token"


def bot_story() -> dict[str, Any]:
    receive = copy.deepcopy(TEMPLATES["slack_receive"]["action"])
    receive["options"]["response"] = '{"response_type": "ephemeral", "text": "Looking into {{.text}}..."}'
    receive["options"]["response_code"] = "200"
    reply = copy.deepcopy(TEMPLATES["slack_reply_response_url"]["action"])
    ask = copy.deepcopy(TEMPLATES["slack_prompt_buttons"]["action"])
    return story("Slack bot", [receive, reply, ask], [(0, 1), (0, 2)])


@pytest.fixture
def server(tmp_path: Path) -> Any:
    sink = f"127.0.0.1:{free_port()}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(f"sqlite:///{tmp_path}/chat.db", STORYLINE_PUBLIC_URL=base,
                      STORYLINE_EGRESS_OVERRIDES=f"slack.com=http://{sink},hooks.slack.com=http://{sink}")
    story_file = tmp_path / "bot.json"
    story_file.write_text(json.dumps(bot_story()))
    cli("story", "import", str(story_file), env=env)
    cli("credential", "set", "slack_signing_secret", "--value", SIGNING_SECRET, env=env)
    cli("credential", "set", "slack_bot_token", "--value", BOT_TOKEN, env=env)
    process = serve(port, env, tmp_path / "serve.log")
    try:
        yield base, sink, env
    finally:
        process.stop()


def test_a_slash_command_from_the_console_gets_the_bots_answers_buttons_included(server: Any) -> None:
    base, sink, env = server
    out = cli("chat", "slack", "/analyzedomain example.com", "--url", base, "--sink", sink, "--wait", "4",
              "--user", "ana", env=env)
    lines = out.stdout.splitlines()
    # What Slack shows at once (the webhook's response), then what the story sent later.
    assert lines[0] == "bot (reply): Looking into example.com..."
    assert "bot (response_url): Results for example.com" in lines
    posted = lines.index("bot (chat.postMessage CCONSOLE): Block *example.com*?")
    buttons = lines[posted + 1:posted + 3]
    assert buttons[0].startswith("      [Block] -> " + base + "/prompt?")
    assert buttons[1].startswith("      [Ignore] -> " + base + "/prompt?")
    assert "ana -> Slack bot / Receive Slack: /analyzedomain example.com" in out.stderr
    for secret in (SIGNING_SECRET, BOT_TOKEN):
        assert secret not in out.stdout + out.stderr
    # The buttons are live prompt links: clicking one drives the story on.
    link = buttons[0].split("-> ", 1)[1]
    assert httpx.get(link).status_code == 200


def test_an_unsigned_or_mis_signed_console_request_is_refused(server: Any) -> None:
    base, sink, env = server
    out = cli("chat", "slack", "/analyzedomain example.com", "--url", base, "--sink", sink, "--wait", "1",
              "--signing-secret", "not-the-secret", env=env, check=False)
    assert out.returncode == 1
    assert "HTTP 401" in out.stderr and "X-Slack-Signature does not match" in out.stderr

"""`storyline chat teams` against a real `storyline serve`: a signed message in, the bot's card out, a click back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storyline.chat.teams_console import console_overrides
from storyline.chat.templates import TEMPLATES
from tests.builders import HTTP, TRIGGER, WEBHOOK, agent, story
from tests.e2e.processes import cli, environment, free_port, serve

pytestmark = pytest.mark.slow


def teams_bot() -> dict[str, Any]:
    def template(name: str) -> dict[str, Any]:
        return {**TEMPLATES[name]["action"], "disabled": False, "guid": name}

    return story("Teams chatbot", [
        agent(WEBHOOK, "Teams message", path="teams", secret="s3cret", verbs="post", response_code="200",
              verification={"type": "teams", "app_id": "{{.RESOURCE.teams_app_id}}"}),
        agent(TRIGGER, "Is analyze domain", rules=[
            {"type": "regex", "path": "{{.teams_message.text}}", "value": "^analyzedomain "}]),
        template("teams_reply"),
        template("teams_reply_card"),
        agent(TRIGGER, "Is a click", rules=[{"type": "regex", "path": "{{.teams_message.value.verb}}", "value": "."}]),
        agent(HTTP, "Confirm click", url="{{.teams_message.conversation_url}}", method="post", content_type="json",
              headers={"Authorization": "Bearer {{.CREDENTIAL.teams_bot}}"},
              payload={"type": "message", "text": "{{.teams_message.from.name}} chose {{.teams_message.value.verb}}"}),
    ], [(0, 1), (1, 2), (1, 3), (0, 4), (4, 5)])


def test_chat_teams_talks_to_a_running_server(database_url: str, tmp_path: Path) -> None:
    console_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(database_url, STORYLINE_PUBLIC_URL=base, XDG_CACHE_HOME=str(tmp_path / "cache"),
                      STORYLINE_EGRESS_OVERRIDES=console_overrides(console_port))
    story_file = tmp_path / "bot.json"
    story_file.write_text(json.dumps(teams_bot()))
    cli("story", "import", str(story_file), env=env)
    cli("resource", "set", "teams_app_id", "console-bot-app", env=env)
    cli("credential", "set", "teams_bot", "--oauth2-client-credentials",
        "--token-url", "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
        "--client-id", "console-bot-app", "--client-secret", "not-used-locally",
        "--scope", "https://api.botframework.com/.default", "--allowed-host", "smba.trafficmanager.net", env=env)
    server = serve(port, env, tmp_path / "serve.log")
    try:
        said = cli("chat", "teams", "analyzedomain example.com", "--port", str(console_port), "--wait", "20",
                   env=env).stdout
        assert "you: analyzedomain example.com" in said
        assert "bot: Working on: analyzedomain example.com" in said
        assert "Block analyzedomain example.com?" in said
        assert "[Block] click: --value '{\"verb\":\"block\"," in said
        assert f"[Approve] -> {base}/prompt?" in said

        clicked = cli("chat", "teams", "--value", '{"verb": "block"}', "--user", "Jane", "--port",
                      str(console_port), "--wait", "20", env=env).stdout
        assert "bot: Jane chose block" in clicked

        forged = cli("chat", "teams", "hello", "--app-id", "someone-elses-bot", "--port", str(console_port),
                     env=env, check=False)
        assert forged.returncode == 1
        assert "401" in forged.stdout and "another audience" in forged.stdout
    finally:
        server.stop()
    assert "refused: token is for another audience" in server.output()

"""Webhook URLs as the command line hands them out, and the pack walkthrough of the README.

`story show`, `pack install` and `serve` print one and the same URL for a webhook, and
it is the URL the server answers (never a redirect). Each pack install has secrets of its
own, so nothing here types one: the URLs come from what storyline prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.builders import WEBHOOK, agent, story
from tests.e2e.processes import cli, cli_json, environment, free_port, serve
from tests.support import eventually

pytestmark = pytest.mark.slow


def _webhook_urls(name: str, env: dict[str, str]) -> list[str]:
    return [a["webhook_url"] for a in cli_json("story", "show", name, env=env)["actions"] if "webhook_url" in a]


def test_story_show_gives_a_secretless_webhook_the_url_serve_prints_and_answers(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(f"sqlite:///{tmp_path}/open.db", STORYLINE_PUBLIC_URL=base)
    story_file = tmp_path / "open.json"
    story_file.write_text(json.dumps(story("Open", [agent(WEBHOOK, "Receive", path="open-hook", verbs="post")], [])))
    cli("story", "import", str(story_file), env=env)

    [url] = _webhook_urls("Open", env)
    assert url == f"{base}/webhook/open-hook"
    assert f"webhook:  {url}   (Receive)" in cli("story", "show", "Open", env=env).stdout
    server = serve(port, env, tmp_path / "serve.log")
    try:
        assert f"webhook:  {url}   (Open / Receive)" in server.output()
        assert httpx.post(url, json={"hello": "world"}).status_code == 201
    finally:
        server.stop()


def test_pack_install_prints_each_webhook_url_with_the_secret_story_show_gives(env: dict[str, str]) -> None:
    installed = cli("pack", "install", "security-chatbot", env=env).stdout
    [alert] = _webhook_urls("Slack proactive alert", env)
    assert alert.startswith("http://127.0.0.1:8000/webhook/slack-proactive-alert/")
    assert f"webhook:  {alert}   (Slack proactive alert / Receive alert)" in installed
    assert "change-this-secret" not in installed
    again = cli("pack", "install", "security-chatbot", "--replace", env=env).stdout
    assert f"webhook:  {alert}   " in again, "a reinstall keeps the secret the URL was handed out with"


def test_the_demo_walkthrough_works_without_typing_a_secret(tmp_path: Path) -> None:
    """README, "Offline walkthrough": `make run`, `storyline chat slack ...`, then the alert's curl."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(f"sqlite:///{tmp_path}/demo.db", STORYLINE_PUBLIC_URL=base)
    server = serve(port, env, tmp_path / "serve.log", "--demo")
    try:
        chat = cli("chat", "slack", "/analyzedomain evil-example.com", "--url", base,
                   "--sink", f"127.0.0.1:{free_port()}", "--wait", "5", env=env)
        assert ":red_circle: *evil-example.com*: malicious" in chat.stdout, chat.stdout + chat.stderr

        [alert] = _webhook_urls("Slack proactive alert", env)
        assert f"webhook:  {alert}   (Slack proactive alert / Receive alert)" in server.output()
        answer = httpx.post(alert, json={"email": "ana@example.com", "title": "New MFA device",
                                         "details": "from 45.9.148.1"})
        assert answer.status_code == 201, answer.text
        eventually(lambda: "New MFA device" in httpx.get(f"{base}/_sandbox/messages").text, 30, server.output)
    finally:
        server.stop()

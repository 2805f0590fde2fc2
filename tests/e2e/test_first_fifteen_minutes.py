"""A newcomer's first fifteen minutes against `make run` (`storyline serve --demo`), as real processes.

Each test is something issue 16 found confusing: what the console prints, what exit code a
command ends with, what a message says.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Process, cli, environment, free_port, serve
from tests.support import eventually

pytestmark = pytest.mark.slow


@dataclass
class Demo:
    base: str
    env: dict[str, str]
    server: Process

    def cli(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        done = cli(*args, env=self.env, check=check)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = environment(f"sqlite:///{home}/storyline.db", XDG_CACHE_HOME=str(home / "cache"))
    server = serve(port, env, home / "serve.log", "--demo")
    try:
        yield Demo(f"http://127.0.0.1:{port}", env, server)
    finally:
        server.stop()


def clicks(output: str, label: str) -> list[str]:
    """The console flags printed for every button called ``label``."""
    return [shlex.split(line.split(" click: ", 1)[1]) for line in output.splitlines()
            if line.strip().startswith(f"[{label}] click: ")]


def test_the_teams_console_works_against_the_demo_and_prints_every_button_with_what_clicks_it(demo: Demo) -> None:
    port = str(free_port())
    _, said, _ = demo.cli("chat", "teams", "analyzedomain evil-example.com", "--url", demo.base, "--port", port)
    assert "evil-example.com: malicious" in said
    [whitelist] = clicks(said, "Whitelist")
    [block] = clicks(said, "Block")
    assert block[0] == "--value" and json.loads(block[1]) == {"decision": "block", "indicator": "evil-example.com"}
    assert whitelist[0] == "--value"
    # The printed flags, pasted as they are, click the button.
    code, clicked, _ = demo.cli("chat", "teams", *block, "--url", demo.base, "--port", port)
    assert code == 0 and "bot: Console User chose to **block** evil-example.com." in clicked


def test_the_slack_console_prints_its_buttons_with_the_flags_that_click_them(demo: Demo) -> None:
    sink = f"127.0.0.1:{free_port()}"
    _, said, _ = demo.cli("chat", "slack", "/analyzedomain evil-example.com", "--url", demo.base, "--sink", sink)
    [block] = clicks(said, "Block")
    assert block == ["--click", "block:evil-example.com", "--value", "evil-example.com"]
    code, clicked, _ = demo.cli("chat", "slack", *block, "--url", demo.base, "--sink", sink, "--user", "bob")
    assert code == 0 and "chose to *block* `evil-example.com`." in clicked


@pytest.mark.parametrize(("command", "message"), [
    (("events", "--story", "Demo alert triag"), "did you mean 'Demo alert triage'?"),
    (("runs", "--story", "nope"), "no story named or with guid 'nope'"),
    (("events", "--action", "Build findings"), "did you mean 'Build finding'"),
    (("logs", "--level", "warn"), "no log level 'warn' (the levels are info, warning, error); did you mean 'warning'?"),
    (("logs", "--level", "bogus"), "no log level 'bogus' (the levels are info, warning, error)"),
])
def test_unknown_names_and_levels_are_errors_that_suggest_the_close_ones(
    demo: Demo, command: tuple[str, ...], message: str
) -> None:
    code, out, err = demo.cli(*command, check=False)
    assert code == 1 and message in err and out == ""


def test_a_second_server_on_the_same_port_says_one_probably_runs_before_any_banner(demo: Demo) -> None:
    port = demo.base.rsplit(":", 1)[1]
    code, out, err = demo.cli("serve", "--demo", "--port", port, check=False)
    assert code == 3 and out == ""
    assert "already in use: another storyline server is probably running there" in err
    assert f"--port {int(port) + 1}" in err


def test_the_banner_shows_no_url_that_answers_404(demo: Demo) -> None:
    banner = demo.server.output()
    assert "sandbox:  this server answers as " in banner and "login.botframework.com" in banner
    for url in re.findall(r"http://127\.0\.0\.1:\d+\S*", banner):
        assert httpx.get(url).status_code != 404, url


def test_version_and_a_missing_file_to_check(demo: Demo, tmp_path: Path) -> None:
    code, out, _ = demo.cli("--version")
    assert code == 0 and re.fullmatch(r"storyline \d+\.\d+\.\d+\S*\n", out)
    code, out, err = demo.cli("tines", "check", str(tmp_path / "missing.json"), check=False)
    assert code == 2 and "cannot read" in err and "missing.json: no such file" in err and "unsupported" not in out


@pytest.mark.parametrize(("text", "answer"), [
    ("/help", "bot (response_url): *Security chatbot*: send indicators"),
    ("/foo bar", "bot (response_url): *Security chatbot*: send indicators"),
    ("help", "bot (chat.postMessage CCONSOLE): I answer slash commands: `/analyzedomain`"),
])
def test_help_an_unknown_command_and_a_mention_get_an_answer_and_the_console_ends_when_it_is_in(
    demo: Demo, text: str, answer: str
) -> None:
    code, said, err = demo.cli("chat", "slack", text, "--url", demo.base, "--sink", f"127.0.0.1:{free_port()}",
                               "--wait", "60")
    assert code == 0 and answer in said
    assert "On it" not in said and "STORYLINE_EGRESS_OVERRIDES" not in err


ALERT = {"reporter": "alice", "title": "Beaconing", "severity": 8, "details": "seen 203.0.113.7 and 198.51.100.23"}


def test_the_server_prints_a_line_per_request_and_one_per_finished_run_never_a_secret(demo: Demo) -> None:
    answer = httpx.post(f"{demo.base}/webhook/demo-alert/demo-secret", json=ALERT)
    assert answer.status_code < 300
    finished = eventually(lambda: re.findall(r"run (\w{8}) of 'Demo alert triage' finished: \d+ events",
                                             demo.server.output()), 30, demo.server.output)
    assert len(finished) == len(set(finished))  # each run said once
    assert re.search(rf"127\.0\.0\.1 POST /webhook/demo-alert/… {answer.status_code} \d+ms", demo.server.output())
    assert "demo-secret" not in demo.server.output().split("storyline.access", 1)[1]
    assert "GET /_sandbox/messages" not in demo.server.output()  # the consoles poll it: no line each


def test_quiet_serves_without_a_line_per_request(tmp_path: Path) -> None:
    port = free_port()
    server = serve(port, environment(f"sqlite:///{tmp_path}/quiet.db"), tmp_path / "serve.log", "--quiet")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert "storyline.access" not in server.output()
    finally:
        server.stop()


def test_story_show_prints_keys_and_urls_whole_and_its_json_says_what_the_story_needs(demo: Demo) -> None:
    _, shown, _ = demo.cli("story", "show", "Slack proactive alert")
    assert "first_of_answer_or_timeout" in shown
    [url] = re.findall(r"webhook:  (\S+)", shown)
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/webhook/slack-proactive-alert/[\w-]{20,}", url)
    assert "needs credentials: slack_bot_token" in shown
    data = json.loads(demo.cli("story", "show", "Slack proactive alert", "--json")[1])
    assert data["credentials"] == ["slack_bot_token"] and data["resources"] == ["alert_escalate_after_seconds"]
    assert {"source": "Receive alert", "receiver": "Find Slack user"} in data["links"]
    ask = next(a for a in data["actions"] if a["name"] == "Ask the user")
    assert ask["options"]["url"] == "https://slack.com/api/chat.postMessage"

"""`storyline run` says what each action does as it runs, fails loudly, and starts wherever Tines can."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story
from tests.e2e.processes import cli, environment, free_port, serve
from tests.fakes.httpbin import FakeHttpbin
from tests.support import eventually


def write(tmp_path: Path, definition: dict[str, Any]) -> Path:
    path = tmp_path / "story.json"
    path.write_text(json.dumps(definition))
    return path


def failing_story() -> dict[str, Any]:
    return story("Lookup", [
        agent(WEBHOOK, "Receive", path="lookup", secret="s", verbs="post"),
        agent(TRANSFORM, "Build query", mode="message_only", payload={"q": "{{.receive.domain}}"}),
        agent(HTTP, "Search intel", method="get", url="https://intel.example/status/503", retry_on_status=["503"]),
    ], [(0, 1), (1, 2)])


def test_run_prints_each_action_as_it_runs_retries_and_failures_and_exits_1(
    tmp_path: Path, httpbin: FakeHttpbin
) -> None:
    env = environment(f"sqlite:///{tmp_path}/cli.db", STORYLINE_EGRESS_OVERRIDES=f"intel.example={httpbin.url}",
                      STORYLINE_MAX_ATTEMPTS="2", STORYLINE_RETRY_BASE_SECONDS="0.05")
    ran = cli("run", str(write(tmp_path, failing_story())), "--input", '{"domain": "x.com"}', env=env, check=False)
    assert ran.returncode == 1
    lines = ran.stderr.splitlines()
    assert any(line.endswith('Receive: emitted {"domain":"x.com"}') for line in lines)
    assert any(line.endswith('Build query: emitted {"q":"x.com"}') for line in lines)
    assert any("Search intel: retry: attempt 1 failed, retrying in" in line and "503" in line for line in lines)
    assert any("Search intel: FAILED: failed after 2 attempt(s)" in line for line in lines)
    assert "1 action(s) failed: Search intel" in lines[-1]


def test_a_run_that_fails_nothing_exits_0_and_the_throwaway_database_says_nothing_of_its_key(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path}/cli.db")
    definition = story("Echo", [agent(WEBHOOK, "Receive", path="echo", secret="s", verbs="post")], [])
    ran = cli("run", str(write(tmp_path, definition)), "--input", "{}", env=env)
    assert ran.returncode == 0 and "no action failed" in ran.stderr
    assert "secret key" not in ran.stderr


def test_a_template_that_does_not_parse_fails_its_action_naming_the_option_without_a_traceback(
        tmp_path: Path) -> None:
    definition = story("Bad", [
        agent(WEBHOOK, "Receive", path="bad", secret="s", verbs="post"),
        agent(TRANSFORM, "Build", mode="message_only", payload={"y": "=CONCAT(receive.a, "}),
    ], [(0, 1)])
    ran = cli("run", str(write(tmp_path, definition)), env=environment(f"sqlite:///{tmp_path}/cli.db"), check=False)
    assert ran.returncode == 1
    assert "Build: FAILED: failed after 1 attempt(s): action 'Build': option 'payload.y': formula error" in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout


def scheduled_story() -> dict[str, Any]:
    return story("Nightly", [
        agent(TRANSFORM, "Start", mode="message_only", payload={"started": "yes"}),
        agent(TRANSFORM, "Then", mode="message_only", payload={"after": "{{.start.started}}"}),
    ], [(0, 1)])


def test_action_starts_a_run_at_any_action_without_sources(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path}/cli.db")
    path = write(tmp_path, scheduled_story())
    refused = cli("run", str(path), env=env, check=False)
    assert refused.returncode == 1
    assert "has no webhook action to send --input to" in refused.stderr and "--action NAME: 'Start'" in refused.stderr
    ran = cli("run", str(path), "--action", "Start", "--json", env=env)
    events = json.loads(ran.stdout)
    assert [e["action"] for e in events] == ["Start", "Then"]
    assert events[1]["payload"]["then"] == {"after": "yes"}
    inner = cli("run", str(path), "--action", "Then", env=env, check=False)
    assert inner.returncode == 1 and "receives events from other actions" in inner.stderr


def test_run_by_name_runs_a_copy_to_itself_and_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path}/cli.db")
    cli("story", "import", str(write(tmp_path, scheduled_story())), env=env)
    ran = cli("run", "Nightly", "--action", "Start", "--json", env=env)
    assert [e["action"] for e in json.loads(ran.stdout)] == ["Start", "Then"]
    assert json.loads(cli("runs", "--json", env=env).stdout) == []
    missing = cli("run", "Nightli", env=env, check=False)
    assert missing.returncode == 1 and "did you mean 'Nightly'" in missing.stderr


def test_a_run_waiting_on_a_timer_is_shown_as_waiting_on_that_action(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path}/cli.db")
    cli("story", "import", str(write(tmp_path, story("Escalate", [
        agent(WEBHOOK, "Receive", path="esc", secret="s", verbs="post"),
        agent(TRANSFORM, "Wait for an answer", mode="delay", seconds="900"),
    ], [(0, 1)]))), env=env)
    port = free_port()
    server = serve(port, env, tmp_path / "serve.log", "--quiet")
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/webhook/esc/s", json={}).status_code < 300
        [run] = eventually(lambda: [r for r in json.loads(cli("runs", "--json", env=env).stdout)
                                    if r["status"] == "waiting"], 30, server.output)
        assert run["waiting_on"]["action"] == "Wait for an answer" and run["pending"] == 1
        assert "waiting: Wait for an answer at " in cli("runs", env=env).stdout
    finally:
        server.stop()

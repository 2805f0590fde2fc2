"""The command line as a user runs it, against a real database file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.corpus import shared_story
from tests.e2e.processes import cli, cli_json, free_port, serve
from tests.support import eventually

COMMAND = json.dumps({"user_name": "alice", "command": "/analyzedomain", "channel_id": "C1",
                      "text": "evil-example.com and login.bad-site.net"})


def test_import_list_show_export(env: dict[str, str], story_file: Path, tmp_path: Path) -> None:
    imported = cli("story", "import", str(story_file), env=env)
    assert "imported Slash command (4 actions)" in imported.stdout
    [listed] = cli_json("story", "list", env=env)
    assert listed["name"] == "Slash command" and listed["actions"] == 4
    shown = cli_json("story", "show", "Slash command", env=env)
    assert shown["name"] == "Slash command"
    assert [a["key"] for a in shown["actions"]] == [
        "receive_commands", "is_analyze_domain", "extract_domains", "explode_domains"]
    # On the public URL (serve's default here), as serve prints it.
    assert shown["actions"][0]["webhook_url"] == "http://127.0.0.1:8000/webhook/analyze/s3cret"
    assert "webhook_url" not in shown["actions"][1]
    out = tmp_path / "exported.json"
    cli("story", "export", "Slash command", "-o", str(out), env=env)
    exported = json.loads(out.read_text())
    original = json.loads(story_file.read_text())
    assert exported["agents"] == original["agents"] and exported["links"] == original["links"]


def test_importing_the_same_story_twice_asks_for_replace(env: dict[str, str], story_file: Path) -> None:
    cli("story", "import", str(story_file), env=env)
    again = cli("story", "import", str(story_file), env=env, check=False)
    assert again.returncode == 1 and "--replace" in again.stderr
    cli("story", "import", "--replace", str(story_file), env=env)


def test_run_a_file_prints_its_events(env: dict[str, str], story_file: Path) -> None:
    events = cli_json("run", str(story_file), "--input", COMMAND, env=env)
    assert [e["action"] for e in events] == [
        "Receive commands", "Is analyze domain", "Extract domains", "Explode domains", "Explode domains"]
    assert {"id", "story", "action", "story_run", "created_at", "payload"} <= set(events[0])
    # A file runs against a throwaway database: nothing was imported into the real one.
    assert cli_json("story", "list", env=env) == []


def test_events_and_runs_of_a_served_story(env: dict[str, str], story_file: Path, tmp_path: Path) -> None:
    cli("story", "import", str(story_file), env=env)
    port = free_port()
    server = serve(port, env, tmp_path / "serve.log")
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/webhook/analyze/s3cret", json=json.loads(COMMAND)).status_code < 300
        explode = eventually(lambda: cli_json("events", "--action", "Explode domains", env=env), 30)
        assert [e["payload"]["explode_domains"]["domain"] for e in explode] == [
            "evil-example.com", "login.bad-site.net"]
        run = explode[0]["story_run"]
        assert cli_json("events", "--run", run, env=env)[0]["action"] == "Receive commands"
        [listed_run] = eventually(lambda: [r for r in cli_json("runs", "--story", "Slash command", env=env)
                                           if r["status"] == "done"], 30)
        assert listed_run["guid"] == run and listed_run["events"] == 5
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"name": "x"}', "agents"),
        (json.dumps({"name": "Bad link", "agents": [
            {"type": "Agents::TriggerAgent", "name": "T", "guid": "a" * 32, "options": {"rules": []}}],
            "links": [{"source": 0, "receiver": 3}]}), "receiver 3 is out of range"),
        (json.dumps({"name": "Bad regex", "agents": [
            {"type": "Agents::TriggerAgent", "name": "T", "guid": "b" * 32,
             "options": {"rules": [{"type": "regex", "path": "{{.x}}", "value": "(unclosed"}]}}],
            "links": []}), "action 'T'"),
    ],
)
def test_bad_story_files_get_a_clear_error_and_nothing_is_imported(
    env: dict[str, str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = cli("story", "import", str(path), env=env, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert cli_json("story", "list", env=env) == []


def test_a_real_tines_export_imports_and_shows_its_webhook(env: dict[str, str]) -> None:
    path = shared_story("blog--slack-chatbot.json")
    cli("story", "import", str(path), env=env)
    shown = cli_json("story", "show", "Slack Chatbot", env=env)
    hooks = [a for a in shown["actions"] if "webhook_url" in a]
    assert len(hooks) == 2
    # Old exports have no webhook path: the action guid is used, stable across exports.
    assert all(a["webhook_url"].startswith(f"http://127.0.0.1:8000/webhook/{a['guid']}/") for a in hooks)


def test_db_upgrade_brings_the_schema_to_the_newest_migration(env: dict[str, str]) -> None:
    from alembic.script import ScriptDirectory

    from storyline.store.db import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert f"database at revision {head}" in cli("db", "upgrade", env=env).stdout

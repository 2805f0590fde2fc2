"""Bringing stories from Tines on the command line: `tines check`, and importing a story twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders import slash_command_story
from tests.corpus import shared_story
from tests.e2e.processes import cli, cli_json, environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return environment(f"sqlite:///{tmp_path}/cli.db")


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "slash.json"
    path.write_text(json.dumps(slash_command_story()))
    return path


def test_importing_an_existing_story_offers_replace_or_as_new(env: dict[str, str], story_file: Path) -> None:
    cli("story", "import", str(story_file), env=env)
    again = cli("story", "import", str(story_file), env=env, check=False)
    assert again.returncode == 1 and "--replace" in again.stderr and "--as-new" in again.stderr

    copied = cli("story", "import", "--as-new", str(story_file), env=env)
    assert "Slash command (copy)" in copied.stderr  # named in the warning
    assert "is served by another story" in copied.stderr and "/webhook/" in copied.stderr
    stories = cli_json("story", "list", env=env)
    assert sorted(s["name"] for s in stories) == ["Slash command", "Slash command (copy)"]
    paths = [path for s in stories for path in s["webhook_paths"]]
    assert len(paths) == len(set(paths)) == 2

    both = cli("story", "import", "--replace", "--as-new", str(story_file), env=env, check=False)
    assert both.returncode == 1 and "exclude each other" in both.stderr


def test_tines_check_exits_0_when_everything_runs(story_file: Path) -> None:
    result = cli("tines", "check", str(story_file))
    assert result.stdout.splitlines()[-1] == "4 of 4 actions (100.0%) in 1 stories run as in Tines"
    data = json.loads(cli("tines", "check", "--json", str(story_file)).stdout)
    [story] = data["stories"]
    assert story == {"file": str(story_file), "name": "Slash command", "schema_version": 4,
                     "actions": len(slash_command_story()["agents"]), "unsupported": []}


def test_tines_check_lists_what_would_not_run_and_exits_1(tmp_path: Path, story_file: Path) -> None:
    data = slash_command_story()
    data["agents"].append({"type": "Agents::LLMAgent", "name": "Summarise", "guid": "9" * 32, "options": {}})
    data["agents"][1]["options"]["rules"][0]["value"] = "=NO_SUCH_FN(x)"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(data))
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")

    result = cli("tines", "check", "--json", str(story_file), str(path), str(bad), check=False)
    assert result.returncode == 1
    good, odd, broken = json.loads(result.stdout)["stories"]
    assert good["unsupported"] == []
    whats = {(item["action"], item["what"]) for item in odd["unsupported"]}
    assert whats == {("Summarise", "action type Agents::LLMAgent"),
                     (data["agents"][1]["name"], "function NO_SUCH_FN")}
    assert broken["name"] is None and broken["unsupported"][0]["what"] == "file"
    assert "not valid JSON" in broken["unsupported"][0]["reason"]

    human = cli("tines", "check", str(path), check=False)
    assert human.returncode == 1 and "NO_SUCH_FN" in human.stdout and "LLMAgent" in human.stdout


def test_tines_check_on_a_real_export() -> None:
    path = shared_story("blog--slack-chatbot.json")
    [story] = json.loads(cli("tines", "check", "--json", str(path)).stdout)["stories"]
    assert (story["name"], story["schema_version"], story["actions"], story["unsupported"]) == (
        "Slack Chatbot", 1, 17, [])


def test_each_file_imports_whole_or_not_at_all(env: dict[str, str], story_file: Path, tmp_path: Path) -> None:
    """A bad file among good ones: the good ones are imported, the bad one leaves nothing behind."""
    big = tmp_path / "big.json"
    big.write_text('{"name": "Big", "agents": [], "pad": "' + "x" * (5 * 1024 * 1024) + '"}')
    dangling = tmp_path / "dangling.json"
    dangling.write_text(json.dumps({"name": "Dangling", "agents": [
        {"type": "Agents::WebhookAgent", "name": "In", "guid": "d" * 32, "options": {"path": "dangling"}}],
        "links": [{"source": 0, "receiver": 1}]}))
    odd = slash_command_story()
    odd["name"] = "Odd"
    odd["agents"][0]["options"]["path"] = "odd"
    odd["agents"][2]["name"] = odd["agents"][3]["name"] = "Same name"
    odd["agents"].append({"type": "Agents::LLMAgent", "name": "Summarise", "guid": "9" * 32, "options": {}})
    odd_file = tmp_path / "odd.json"
    odd_file.write_text(json.dumps(odd))

    result = cli("story", "import", str(big), str(story_file), str(dangling), str(odd_file), env=env, check=False)
    assert result.returncode == 1
    assert "over the 5 MB limit" in result.stderr and "receiver 1 is out of range" in result.stderr
    assert "share the key 'same_name'" in result.stderr
    assert "cannot run Agents::LLMAgent actions yet ('Summarise')" in result.stderr
    assert sorted(s["name"] for s in cli_json("story", "list", env=env)) == ["Odd", "Slash command"]
    shown = cli_json("story", "show", "Odd", env=env)
    assert [a["key"] for a in shown["actions"]].count("same_name") == 2

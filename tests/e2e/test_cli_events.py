"""The readers (`events`, `runs`) print every event storyline stores, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storyline import jsondata
from tests.builders import TRANSFORM, WEBHOOK, agent, story
from tests.e2e.processes import cli, environment
from tests.harness import Harness

WIDE = 123456789012345678901234567890


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


async def test_events_json_prints_the_deepest_events_and_the_widest_integers_exactly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    env = environment(url)
    deep = story("Deep", [
        agent(WEBHOOK, "Hook", path="deep", secret="s", verbs="post", include_headers="true"),
        agent(TRANSFORM, "Copy", mode="message_only", payload={"copy": "{{ .hook.body.deep | as_object }}"}),
    ], [(0, 1)])
    # The deepest body a webhook takes, under headers/body as include_headers files it.
    body = {"headers": {}, "body": {"deep": nested(jsondata.MAX_DEPTH - 1), "wide": WIDE, "negative": -WIDE}}
    async with Harness(url) as h:
        await h.load(deep)
        await h.ingest("Hook", body)
        await h.drain()
    printed = cli("events", "--json", env=env).stdout
    hook, copy = jsondata.loads(printed, max_depth=None)
    assert hook["payload"] == {"hook": body}
    assert copy["payload"] == {"hook": body, "copy": {"copy": nested(jsondata.MAX_DEPTH - 1)}}
    assert "123456789012345678901234567890" in printed and "-123456789012345678901234567890" in printed
    assert "Copy" in cli("events", env=env).stdout
    [run] = jsondata.loads(cli("runs", "--json", env=env).stdout)
    assert run["events"] == 2 and run["status"] == "done"


def test_run_refuses_an_input_nested_deeper_than_a_webhook_takes(tmp_path: Path) -> None:
    story_file = tmp_path / "deep.json"
    story_file.write_text(jsondata.dumps(story("Deep", [agent(WEBHOOK, "Hook", path="deep", secret="s")], [])))
    ran = cli("run", str(story_file), "--input", jsondata.dumps(nested(jsondata.MAX_DEPTH + 1)),
              env=environment(f"sqlite:///{tmp_path}/cli.db"), check=False)
    assert ran.returncode == 1
    assert "--input is JSON nested deeper than 64 levels of objects and arrays; send it flatter" in " ".join(
        ran.stderr.split())

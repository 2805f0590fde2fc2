"""Exporting stories as Tines JSON, and the import -> export round trip over real exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from storyline.model import ActionDef, StoryDef
from storyline.tines.exporter import export_json, export_story
from storyline.tines.importer import parse_story
from tests.corpus import corpus_files, corpus_paths

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)




def sv3_story() -> dict[str, Any]:
    """A schema-3 export written for these tests: both exit keys, a form, notes, mixed schedules."""
    return {
        "schema_version": 3,
        "name": "Prompt with timeout",
        "description": "Ask a human, give up after an hour",
        "guid": "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
        "exported_at": "2021-08-24T10:01:42Z",
        "agents": [
            {
                "type": "Agents::HTTPRequestAgent",
                "name": "Ask in Slack",
                "disabled": False,
                "guid": "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b",
                "options": {
                    "url": "https://slack.com/api/chat.postMessage",
                    "method": "post",
                    "content_type": "json",
                    "payload": {"text": "OK? {% prompt yes %}", "channel": "{{.start.channel}}"},
                },
                "schedule": None,
                "keep_events_for": 0,
            },
            {
                "type": "Agents::EventTransformationAgent",
                "name": "Wait an hour",
                "disabled": True,
                "guid": "2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c",
                "options": {"mode": "delay", "seconds": 3600},
                "keep_events_for": 0,
            },
            {
                "type": "Agents::TriggerAgent",
                "name": "Answered",
                "disabled": False,
                "guid": "3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d",
                "options": {"rules": [{"type": "regex", "value": "yes",
                                       "path": "{{.ask_in_slack.prompt.status}}"}]},
                "keep_events_for": 604800,
            },
        ],
        "diagram_notes": [{"content": "timeout pattern", "position": [10, 20], "guid": "n1"}],
        "links": [{"source": 0, "receiver": 1}, {"source": 0, "receiver": 2}],
        "diagram_layout": '{"1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b":[0,0]}',
        "send_to_story_enabled": True,
        "entry_agent_guid": "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b",
        "exit_agent_guids": ["3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d"],
        "exit_agent_guid": "3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d",
        "send_to_stories": [],
        "form": {"name": "Ask", "fields": [], "visibility": "tenant"},
    }


def test_schema_3_export_has_tines_key_order_and_content() -> None:
    original = sv3_story()
    story, _ = parse_story(original, validate_options=False)
    out = export_story(story, exported_at=WHEN)
    assert list(out) == [
        "schema_version", "name", "description", "guid", "exported_at", "agents", "diagram_notes", "links",
        "diagram_layout", "send_to_story_enabled", "entry_agent_guid", "exit_agent_guids", "exit_agent_guid",
        "send_to_stories", "form",
    ]
    assert out == {**original, "exported_at": "2025-01-02T03:04:05Z"}
    assert list(out["agents"][0]) == ["type", "name", "disabled", "guid", "options", "schedule", "keep_events_for"]
    # No schedule key in, none out; "schedule": null in, null out.
    assert "schedule" not in out["agents"][1] and out["agents"][0]["schedule"] is None


def test_exported_at_is_utc_iso8601() -> None:
    story = StoryDef(name="S", guid="g" * 32)
    stamp = export_story(story)["exported_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    plus_two = datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert export_story(story, exported_at=plus_two)["exported_at"] == "2025-01-02T03:04:05Z"


def test_a_story_built_in_code_exports_without_a_version_as_it_runs() -> None:
    story = StoryDef(
        name="Built here",
        guid="b" * 32,
        actions=[
            ActionDef("Agents::WebhookAgent", "Receive", "c" * 32, options={"path": "in", "secret": "s"}),
            ActionDef("Agents::HTTPRequestAgent", "Call", "d" * 32, options={"url": "https://x"},
                      schedule=[{"cron": "0 9 * * *", "timezone": "UTC"}]),
        ],
        links=[(0, 1)],
        exit_agent_guids=["d" * 32],
    )
    out = export_story(story, exported_at=WHEN)
    assert "schema_version" not in out  # it runs as Tines' first format: flat webhook events
    assert out["exit_agent_guid"] == "d" * 32 and out["exit_agent_guids"] == ["d" * 32]
    assert "keep_events_for" not in out  # the default; early schemas kept retention per agent
    assert out["agents"][0] == {"type": "Agents::WebhookAgent", "name": "Receive", "disabled": False,
                                "guid": "c" * 32, "options": {"path": "in", "secret": "s"}}
    assert out["agents"][1]["schedule"] == [{"cron": "0 9 * * *", "timezone": "UTC"}]
    assert out["links"] == [{"source": 0, "receiver": 1}]
    again, warnings = parse_story(out, validate_options=False)
    assert warnings == []
    assert again == story


def test_retention_and_singular_exit_follow_the_schema_version() -> None:
    story = StoryDef(name="S", guid="g" * 32, keep_events_for=86400, schema_version=4)
    assert export_story(story)["keep_events_for"] == 86400  # not the default: always written
    story.keep_events_for = 604800
    assert "keep_events_for" not in export_story(story)
    story.schema_version = 6
    assert export_story(story)["keep_events_for"] == 604800
    story.schema_version = 25
    assert "exit_agent_guid" in export_story(story)
    story.schema_version = 26
    assert "exit_agent_guid" not in export_story(story)


def test_the_export_does_not_share_the_story() -> None:
    story, _ = parse_story(sv3_story(), validate_options=False)
    out = export_story(story)
    out["agents"][0]["options"]["payload"]["text"] = "changed"
    out["form"]["name"] = "changed"
    assert story.actions[0].options["payload"]["text"] == "OK? {% prompt yes %}"
    assert story.extra["form"]["name"] == "Ask"


def test_export_json_reads_back() -> None:
    story, _ = parse_story(sv3_story(), validate_options=False)
    text = export_json(story, exported_at=WHEN)
    assert text.endswith("}\n") and text.startswith('{\n  "schema_version": 3,')
    assert json.loads(text) == export_story(story, exported_at=WHEN)
    story.name = "Café ☕"
    assert "Café ☕" in export_json(story)


@pytest.mark.parametrize("path", corpus_files())
def test_real_exports_round_trip(path: Path) -> None:
    """export(parse(x)) has x's agents (options included), links and every other key."""
    original = json.loads(path.read_text())
    story, _ = parse_story(original, source=path.name, validate_options=False)
    out = export_story(story, exported_at=WHEN)

    assert out["agents"] == original["agents"]
    assert out["links"] == original["links"]
    lost = set(original) - set(out)
    assert not lost, f"keys lost in export: {lost}"
    for key, value in original.items():
        if key in ("exported_at", "exit_agent_guid", "send_to_story_enabled", "entry_agent_guid"):
            continue
        assert out[key] == value, key
    assert out["schema_version"] == original["schema_version"]
    assert out["exported_at"] == "2025-01-02T03:04:05Z"
    assert out["send_to_story_enabled"] == bool(original.get("send_to_story_enabled"))
    assert out["entry_agent_guid"] == original.get("entry_agent_guid")
    if "exit_agent_guids" in original:
        assert out["exit_agent_guid"] == (original["exit_agent_guids"] or [None])[0]
    else:
        assert out["exit_agent_guids"] == ([original["exit_agent_guid"]] if original.get("exit_agent_guid") else [])
    # And the export imports back to the same story.
    again, _ = parse_story(out, validate_options=False)
    assert again == story


def test_embedded_sub_stories_round_trip_too() -> None:
    """Sub-stories embedded in an export (``send_to_stories``) are stories of their own: same round trip."""
    checked = 0
    for path in corpus_paths():
        for index, original in enumerate(json.loads(path.read_text()).get("send_to_stories") or []):
            story, _ = parse_story(original, source=f"{path.name}#{index}", validate_options=False)
            out = export_story(story, exported_at=WHEN)
            assert out["agents"] == original["agents"] and out["links"] == original["links"], path.name
            assert {key for key in original if key != "exported_at"} <= set(out), path.name
            again, _ = parse_story(out, validate_options=False)
            assert again == story
            checked += 1
    assert checked >= 30


def test_a_story_without_a_version_exports_without_one_so_it_means_the_same_when_imported_again() -> None:
    from storyline.tines.exporter import export_story
    from storyline.tines.importer import parse_story

    original = {"name": "Old", "guid": "a" * 32, "agents": [
        {"type": "Agents::WebhookAgent", "name": "Hook", "guid": "b" * 32, "options": {"secret": "s"}}],
        "links": []}
    story, _ = parse_story(original)
    exported = export_story(story)
    assert "schema_version" not in exported
    again, _ = parse_story(exported)
    assert again.schema_version is None and again.actions[0].options == {"secret": "s"}

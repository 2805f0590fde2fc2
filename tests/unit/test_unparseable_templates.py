"""A template storyline cannot parse never refuses an export: it is reported, and only its action fails.

Tines renders with Ruby Liquid; a template storyline's Liquid does not parse may still work
there, so a user importing thirty exported stories must get all thirty. The action with the
template is listed by ``tines check`` and fails at run time naming the option; nothing else
in the story is affected. Structural errors (malformed JSON, dangling links) stay refusals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storyline.actions import event_transformation
from storyline.actions.base import ActionError, ActionSpec
from storyline.config import Settings
from storyline.engine.runtime import Runtime
from storyline.tines.check import check_file
from storyline.tines.importer import StoryFormatError, parse_story

BROKEN = "Ticket {% if .alert.id %}open"  # no {% endif %}: Ruby Liquid refuses it too


def _export(payload_text: str) -> dict[str, Any]:
    def agent(name: str, guid: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"type": "Agents::EventTransformationAgent", "name": name, "guid": guid,
                "options": {"mode": "message_only", "payload": payload}}

    return {
        "schema_version": 4, "name": "Thirty stories, one odd template", "guid": "a" * 32,
        "agents": [agent("Build reply", "b" * 32, {"fine": "{{ .alert.id }}", "text": payload_text}),
                   agent("Log it", "c" * 32, {"seen": "{{ .alert.id }}"})],
        "links": [{"source": 0, "receiver": 1}],
    }


def test_the_story_imports_whole_with_a_warning_naming_the_action_and_the_option() -> None:
    story, warnings = parse_story(_export(BROKEN))
    assert [action.name for action in story.actions] == ["Build reply", "Log it"]
    assert story.actions[0].options["payload"]["text"] == BROKEN  # kept verbatim, exported as it came
    [warning] = warnings
    assert "action 'Build reply'" in warning and "option 'payload.text'" in warning
    assert "Liquid syntax error" in warning and "fails when it runs" in warning


def test_tines_check_lists_the_action_the_option_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "story.json"
    path.write_text(json.dumps(_export(BROKEN)))
    [report] = check_file(path)
    [item] = report.unsupported
    assert item.action == "Build reply" and item.what == "liquid"
    assert item.reason.startswith("in option 'payload.text': Liquid syntax error")


def test_at_run_time_that_action_fails_naming_the_option_and_the_others_run() -> None:
    story, _ = parse_story(_export(BROKEN))
    runtime = Runtime(Settings())

    def run(index: int) -> Any:
        action = story.actions[index]
        spec = ActionSpec(id=index + 1, story_id=1, guid=action.guid, name=action.name,
                          key=action.name.lower().replace(" ", "_"), type=action.type, options=action.options)
        return event_transformation.run(runtime.context(spec, {"alert": {"id": 7}}, "run-1", 0.0))

    with pytest.raises(ActionError, match=r"^action 'Build reply': option 'payload\.text': Liquid syntax error"):
        run(0)
    assert run(1).events == [{"seen": "7"}]


def test_structural_errors_are_still_refusals() -> None:
    data = _export(BROKEN)
    data["links"] = [{"source": 0, "receiver": 9}]
    with pytest.raises(StoryFormatError, match="receiver"):
        parse_story(data)

"""``storyline tines check``: what of a Tines export storyline would not run as Tines does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storyline.templating import formula
from storyline.tines.check import (
    Unsupported,
    as_json,
    check_file,
    check_paths,
    supported_share,
)
from tests.corpus import corpus_paths


def _story(*agents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schema_version": 4, "name": "Checked", "guid": "f" * 32, "agents": list(agents), "links": [], **extra}


def _agent(name: str, type_: str = "Agents::EventTransformationAgent", **options: Any) -> dict[str, Any]:
    options = options or {"mode": "message_only", "payload": {"ok": "yes"}}
    return {"type": f"Agents::{type_}" if "::" not in type_ else type_, "name": name,
            "guid": f"{abs(hash(name)):032x}"[:32], "options": options}


def _write(tmp_path: Path, data: Any, name: str = "story.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_fully_supported_story_has_nothing_to_report(tmp_path: Path) -> None:
    path = _write(tmp_path, _story(_agent("Build", payload={"x": "{{ .a.b | upcase }}", "y": "=UPCASE(a.b)"},
                                          mode="message_only")))
    [report] = check_file(path)
    assert (report.name, report.schema_version, report.actions, report.unsupported) == ("Checked", 4, 1, [])
    assert as_json([report]) == {"stories": [
        {"file": str(path), "name": "Checked", "schema_version": 4, "actions": 1, "unsupported": []}]}


def test_unknown_action_types_are_flagged_with_the_reason(tmp_path: Path) -> None:
    [report] = check_file(_write(tmp_path, _story(_agent("Think", "Agents::LLMAgent", prompt="hi"))))
    [item] = report.unsupported
    assert item.action == "Think" and item.what == "action type Agents::LLMAgent"
    assert "fails with an error" in item.reason
    assert supported_share([report]) == (0, 1)


def test_the_check_asks_the_registries_not_a_list_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function the templating package registers is supported at once; an unknown filter runs
    as in Tines (passed through), so it is not reported as unsupported."""
    story = _story(_agent("Build", mode="message_only", payload={"a": "=SHOUT(a)", "b": "{{ .a | nope }}"}))
    path = _write(tmp_path, story)
    [report] = check_file(path)
    assert [item.what for item in report.unsupported] == ["function SHOUT"]
    monkeypatch.setitem(formula.FUNCTIONS, "SHOUT", lambda ctx, value: str(value).upper())
    [report] = check_file(path)
    assert report.unsupported == []


def test_findings_name_the_action_and_the_option_path(tmp_path: Path) -> None:
    story = _story(
        _agent("Build", mode="message_only", payload={"items": ["ok", "=NO_SUCH_FN(a)"]}),
        _agent("Call", "HTTPRequestAgent", url="ftp://example.com", method="get"),
    )
    [report] = check_file(_write(tmp_path, story))
    assert Unsupported("Build", "function NO_SUCH_FN", "in option 'payload.items[1]': storyline has no formula "
                       "function NO_SUCH_FN (character 2)") in report.unsupported
    [bad_url] = [item for item in report.unsupported if item.action == "Call"]
    assert bad_url.what == "option url" and "http://" in bad_url.reason


def test_embedded_sub_stories_get_their_own_report(tmp_path: Path) -> None:
    sub = _story(_agent("Inner", "Agents::LLMAgent"), name="Sub", guid="e" * 32)
    reports = check_file(_write(tmp_path, _story(_agent("Outer"), send_to_stories=[sub])))
    assert [(r.name, r.actions, len(r.unsupported)) for r in reports] == [("Checked", 1, 0), ("Sub", 1, 1)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object"), ('{"name": "x"}', "no 'agents' key")],
)
def test_a_file_that_is_not_a_story_gets_a_report_saying_why(tmp_path: Path, content: str, expected: str) -> None:
    [report] = check_file(_write(tmp_path, content))
    [item] = report.unsupported
    assert (report.name, report.actions, item.action, item.what) == (None, 0, None, "file")
    assert expected in item.reason


def test_the_whole_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    """Every real export is checked; the figure is the share of actions that run as in Tines."""
    paths = corpus_paths()
    reports = check_paths(list(paths))
    data = as_json(reports)
    assert {r["file"] for r in data["stories"]} == {str(p) for p in paths}
    for story in data["stories"]:
        assert set(story) == {"file", "name", "schema_version", "actions", "unsupported"}
        assert isinstance(story["name"], str) and story["actions"] > 0
        for item in story["unsupported"]:
            assert set(item) == {"action", "what", "reason"} and item["action"] and item["reason"]
    supported, total = supported_share(reports)
    with capsys.disabled():
        print(f"\ntines check: {supported} of {total} actions ({100 * supported / total:.1f}%) "
              f"in {len(reports)} stories from {len(paths)} exports run as in Tines")
        for report in reports:
            for item in report.unsupported:
                print(f"  {Path(report.file).name} / {item.action}: {item.what}: {item.reason[:120]}")
    assert total > 1000
    assert supported / total > 0.95

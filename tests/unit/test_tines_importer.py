"""Importing Tines story exports: every schema version, clear errors, warnings that matter."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from storyline.model import DEFAULT_KEEP_EVENTS_FOR, ActionDef, StoryDef
from storyline.tines import importer
from storyline.tines.importer import StoryFormatError, load_file, parse_story
from tests.corpus import corpus_files

# Small stories written for these tests, shaped like the real exports of each era.


def legacy_story() -> dict[str, Any]:
    """Schema 1 (2018-2020): per-agent keep_events_for, singular exit_agent_guid, control_links."""
    return {
        "schema_version": 1,
        "name": "Legacy phishing triage",
        "description": "No description provided",
        "guid": "0123456789abcdef0123456789abcdef",
        "exported_at": "2019-08-19T15:43:31Z",
        "agents": [
            {
                "type": "Agents::WebhookAgent",
                "name": "Receive alert",
                "disabled": False,
                "guid": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "options": {"secret": "s3cret", "verbs": "post", "expected_update_period_in_days": 1},
                "keep_events_for": 0,
            },
            {
                "type": "Agents::TriggerAgent",
                "name": "Is phishing?",
                "disabled": False,
                "guid": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "options": {"rules": [{"type": "regex", "value": "phish", "path": "{{.receive_alert.kind}}"}]},
                "keep_events_for": 2592000,
            },
            {
                "type": "Agents::HTTPRequestAgent",
                "name": "Open ticket",
                "disabled": False,
                "guid": "cccccccccccccccccccccccccccccccc",
                "options": {"url": "https://tickets.example/api", "method": "post", "payload": {"t": "x"}},
                "schedule": "never",
                "keep_events_for": 604800,
            },
        ],
        "links": [{"source": 0, "receiver": 1}, {"source": 1, "receiver": 2}],
        "control_links": [],
        "diagram_layout": '{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":[0,0]}',
        "send_to_story_enabled": True,
        "entry_agent_guid": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "exit_agent_guid": "cccccccccccccccccccccccccccccccc",
        "send_to_stories": [],
    }


def modern_story(schema_version: int = 23) -> dict[str, Any]:
    """Schema 18-26: story-level retention, many new keys, agent descriptions and cron schedules."""
    return {
        "schema_version": schema_version,
        "standard_lib_version": 63,
        "action_runtime_version": 15,
        "name": "Modern enrichment",
        "description": None,
        "guid": "fedcba9876543210fedcba9876543210",
        "slug": "modern_enrichment",
        "agents": [
            {
                "type": "Agents::WebhookAgent",
                "name": "Receive events",
                "disabled": False,
                "description": None,
                "guid": "dddddddddddddddddddddddddddddddd",
                "origin_story_identifier": "cloud:abc:fedcba9876543210fedcba9876543210",
                "options": {"path": "receive-events", "secret": "t0ken", "verbs": "post"},
                "reporting": {"time_saved_value": 0, "time_saved_unit": "minutes"},
                "monitoring": {"monitor_all_events": False},
                "width": None,
            },
            {
                "type": "Agents::EventTransformationAgent",
                "name": "Explode users",
                "disabled": False,
                "guid": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "options": {"mode": "explode", "path": "=receive_events.users", "to": "user"},
                "width": None,
                "schedule": [{"cron": "*/5 * * * *", "timezone": "Europe/Dublin"}],
            },
        ],
        "diagram_notes": [{"content": "# hi", "position": [1, 2], "guid": "ffff"}],
        "links": [{"source": 0, "receiver": 1}],
        "diagram_layout": "{}",
        "send_to_story_enabled": False,
        "entry_agent_guid": None,
        "exit_agent_guids": [],
        "exit_agent_guid": None,
        "api_entry_action_guids": [],
        "keep_events_for": 86400,
        "pages": [],
        "exported_at": "2024-11-01T10:00:00Z",
        "icon": ":house_buildings:",
    }


def minimal(*agents: dict[str, Any], links: list[tuple[int, int]] = (), **top: Any) -> dict[str, Any]:
    return {
        "name": "Minimal",
        "guid": "11112222333344445555666677778888",
        "agents": list(agents),
        "links": [{"source": s, "receiver": r} for s, r in links],
        **top,
    }


def agent(type_: str = "Agents::EventTransformationAgent", name: str = "Step", **fields: Any) -> dict[str, Any]:
    return {"type": type_, "name": name, "guid": fields.pop("guid", None) or f"{name.lower():x<32}"[:32],
            "options": fields.pop("options", {"mode": "message_only"}), **fields}


@pytest.fixture
def fake_types(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Action modules under test control, so option-validation behaviour is pinned here."""

    def trigger_validate(options: dict[str, Any]) -> list[str]:
        return [
            f"option 'rules[{i}].type' is {rule.get('type')!r}; use one of regex, !regex, field==value"
            for i, rule in enumerate(options.get("rules", []))
            if rule.get("type") not in ("regex", "!regex", "field==value")
        ]

    def broken_validate(options: dict[str, Any]) -> list[str]:
        raise KeyError("boom")

    types = {
        "Agents::TriggerAgent": SimpleNamespace(validate=trigger_validate),
        "Agents::EventTransformationAgent": SimpleNamespace(validate=lambda options: []),
        "Agents::WebhookAgent": SimpleNamespace(validate=lambda options: []),
        "Agents::HTTPRequestAgent": SimpleNamespace(validate=lambda options: []),
        "Agents::BrokenAgent": SimpleNamespace(validate=broken_validate),
    }
    monkeypatch.setattr(importer, "_action_types", lambda: types)
    return types


# --------------------------------------------------------------------------- shapes and defaults


def test_legacy_schema_1_story(fake_types: dict[str, Any]) -> None:
    story, warnings = parse_story(legacy_story())
    assert warnings == []
    assert (story.name, story.guid, story.schema_version) == (
        "Legacy phishing triage", "0123456789abcdef0123456789abcdef", 1
    )
    assert story.keep_events_for == DEFAULT_KEEP_EVENTS_FOR == 604800
    assert story.send_to_story_enabled is True
    assert story.entry_agent_guid == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert story.exit_agent_guids == ["cccccccccccccccccccccccccccccccc"]
    assert [a.key for a in story.actions] == ["receive_alert", "is_phishing", "open_ticket"]
    assert story.links == [(0, 1), (1, 2)]
    assert set(story.extra) == {"control_links", "diagram_layout", "send_to_stories"}
    webhook, trigger, http = story.actions
    assert webhook.keep_events_for == 0 and story.retention_for(webhook) == 604800  # 0 = story default
    assert story.retention_for(trigger) == 2592000
    assert http.schedule == "never" and http.schedule_present
    assert trigger.schedule is None and not trigger.schedule_present
    assert webhook.options["expected_update_period_in_days"] == 1  # legacy options kept as they are


@pytest.mark.parametrize("version", [3, 4, 6, 18, 23, 26])
def test_every_known_schema_version_imports(fake_types: dict[str, Any], version: int) -> None:
    data = modern_story(version) if version >= 6 else {**legacy_story(), "schema_version": version}
    story, warnings = parse_story(data)
    assert story.schema_version == version
    assert warnings == []


def test_modern_story_keeps_new_keys_verbatim(fake_types: dict[str, Any]) -> None:
    story, _ = parse_story(modern_story())
    assert story.keep_events_for == 86400
    assert story.exit_agent_guids == []
    assert {"standard_lib_version", "slug", "diagram_notes", "api_entry_action_guids", "pages", "icon"} <= set(
        story.extra
    )
    assert "exported_at" not in story.extra  # an export stamps its own time
    hook, explode = story.actions
    assert hook.extra == {
        "description": None,
        "origin_story_identifier": "cloud:abc:fedcba9876543210fedcba9876543210",
        "reporting": {"time_saved_value": 0, "time_saved_unit": "minutes"},
        "monitoring": {"monitor_all_events": False},
        "width": None,
    }
    assert explode.schedule == [{"cron": "*/5 * * * *", "timezone": "Europe/Dublin"}]
    assert hook.keep_events_for is None and story.retention_for(hook) == 86400


def test_newer_schema_imports_with_a_warning(fake_types: dict[str, Any]) -> None:
    story, warnings = parse_story(modern_story(30))
    assert story.schema_version == 30
    assert any("schema_version 30 is newer" in w for w in warnings)


def test_missing_optional_keys_get_defaults(fake_types: dict[str, Any]) -> None:
    story, warnings = parse_story({"name": "Bare", "guid": "g" * 32, "agents": [
        {"type": "Agents::EventTransformationAgent", "name": "Only step", "guid": "h" * 32}]})
    assert warnings == []
    assert story.schema_version is None and story.description is None and story.links == []
    assert story.actions[0].options == {} and story.actions[0].disabled is False
    assert story.exit_agent_guids == [] and story.entry_agent_guid is None and story.extra == {}


def test_plural_exit_guids_win_over_the_singular(fake_types: dict[str, Any]) -> None:
    data = minimal(agent(name="A"), agent(name="B"), exit_agent_guid=agent(name="A")["guid"],
                   exit_agent_guids=[agent(name="A")["guid"], agent(name="B")["guid"]])
    story, warnings = parse_story(data)
    assert story.exit_agent_guids == [agent(name="A")["guid"], agent(name="B")["guid"]]
    assert warnings == []
    data["exit_agent_guids"] = [agent(name="B")["guid"]]
    story, warnings = parse_story(data)
    assert story.exit_agent_guids == [agent(name="B")["guid"]]
    assert any("exit_agent_guid" in w and "not in exit_agent_guids" in w for w in warnings)


def test_entry_and_exit_must_name_actions_of_the_story(fake_types: dict[str, Any]) -> None:
    _, warnings = parse_story(minimal(agent(name="A"), entry_agent_guid="nope", exit_agent_guids=["gone"]))
    assert any("entry_agent_guid 'nope'" in w for w in warnings)
    assert any("'gone'" in w for w in warnings)


def test_string_booleans_and_numbers_from_old_exports(fake_types: dict[str, Any]) -> None:
    story, _ = parse_story(minimal(agent(name="A", disabled="true", keep_events_for="3600"),
                                   send_to_story_enabled="false"))
    assert story.actions[0].disabled is True
    assert story.actions[0].keep_events_for == 3600
    assert story.send_to_story_enabled is False


def test_the_story_does_not_share_the_input(fake_types: dict[str, Any]) -> None:
    data = legacy_story()
    story, _ = parse_story(data)
    data["agents"][2]["options"]["payload"]["t"] = "changed"
    data["control_links"].append({"x": 1})
    assert story.actions[2].options["payload"] == {"t": "x"}
    assert story.extra["control_links"] == []


def test_missing_guids_are_derived_stably(fake_types: dict[str, Any]) -> None:
    data = {"name": "Hand written", "agents": [{"type": "Agents::WebhookAgent", "name": "In", "options": {}}]}
    first, warnings = parse_story(copy.deepcopy(data))
    second, _ = parse_story(copy.deepcopy(data))
    assert len(first.guid) == 32 and first.guid == second.guid
    assert first.actions[0].guid == second.actions[0].guid and len(first.actions[0].guid) == 32
    assert any("story 'Hand written': no 'guid'" in w for w in warnings)
    assert any("1 action(s) have no 'guid'" in w for w in warnings)


# --------------------------------------------------------------------------- webhooks


def test_webhook_path_and_secret(fake_types: dict[str, Any]) -> None:
    legacy, _ = parse_story(legacy_story())
    modern, _ = parse_story(modern_story())
    # Old exports have no options.path: Tines addressed the webhook by its guid.
    assert legacy.actions[0].webhook_path == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert legacy.actions[0].webhook_secret == "s3cret"
    assert modern.actions[0].webhook_path == "receive-events"
    assert modern.actions[0].webhook_secret == "t0ken"
    assert legacy.actions[1].webhook_path is None and legacy.actions[1].webhook_secret is None


def test_two_webhooks_with_one_path_are_refused(fake_types: dict[str, Any]) -> None:
    hook = {"path": "same", "secret": "x"}
    data = minimal(agent("Agents::WebhookAgent", "One", options=hook),
                   agent("Agents::WebhookAgent", "Two", options=dict(hook)))
    with pytest.raises(StoryFormatError, match="webhooks 'One', 'Two' share the path 'same'"):
        parse_story(data)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "expected a JSON object"),
        ("story", "got str"),
        ({"name": "x"}, "no 'agents' key"),
        ({"name": "x", "agents": {}}, "'agents' is a dict"),
    ],
)
def test_not_a_story(data: Any, expected: str) -> None:
    with pytest.raises(StoryFormatError, match=expected) as info:
        parse_story(data, source="export.json")
    assert str(info.value).startswith("export.json: ")
    assert isinstance(info.value, ValueError)


def test_agent_without_type_or_name(fake_types: dict[str, Any]) -> None:
    data = minimal({"name": "No type", "guid": "1" * 32, "options": {}},
                   {"type": "Agents::TriggerAgent", "guid": "2" * 32, "options": {}},
                   "not an object")
    with pytest.raises(StoryFormatError) as info:
        parse_story(data, source="bad.json")
    message = str(info.value)
    assert message.startswith("cannot import bad.json (story 'Minimal'): 3 problems")
    assert "agents[0]: no 'type'" in message
    assert "agents[1]: no 'name'" in message
    assert "agents[2]: expected an object, got str" in message
    assert len(info.value.problems) == 3


def test_links_out_of_range_name_the_link_and_the_value(fake_types: dict[str, Any]) -> None:
    data = minimal(agent(name="A"), agent(name="B"), links=[(0, 1), (1, 7)])
    data["links"].append({"source": "0", "receiver": 1})
    with pytest.raises(StoryFormatError) as info:
        parse_story(data)
    problems = info.value.problems
    assert any(
        "links[1]: receiver 7 is out of range: the story has 2 actions (indexes 0 to 1)" in p for p in problems
    )
    assert any("links[2]: source '0' is not an index into agents[]" in p for p in problems)


def test_control_links_are_kept_and_dangling_ones_refused(fake_types: dict[str, Any]) -> None:
    control = [{"controller": 0, "control_target": 1}]
    story, _ = parse_story(minimal(agent(name="A"), agent(name="B"), control_links=control))
    assert story.extra["control_links"] == control
    data = minimal(agent(name="A"), control_links=[{"controller": 0, "control_target": 4}])
    with pytest.raises(StoryFormatError, match=r"control_links\[0\]: control_target 4 is not an index"):
        parse_story(data)


def test_duplicate_guids_are_refused(fake_types: dict[str, Any]) -> None:
    data = minimal(agent(name="A", guid="9" * 32), agent(name="B", guid="9" * 32))
    with pytest.raises(StoryFormatError, match="agents 0, 1 share guid"):
        parse_story(data)


def test_every_problem_is_reported_at_once(fake_types: dict[str, Any]) -> None:
    data = minimal(
        agent("Agents::TriggerAgent", "Check", options={"rules": [{"type": "regex"}, {"type": "bogus"}]}),
        agent("Agents::TriggerAgent", "Check again", options={"rules": [{"type": "nope"}]}),
        {"type": "Agents::WebhookAgent", "guid": "3" * 32},
        links=[(0, 5)],
    )
    with pytest.raises(StoryFormatError) as info:
        parse_story(data, source="many.json")
    problems = info.value.problems
    assert len(problems) == 4
    assert (
        "story 'Minimal', action 'Check' (Agents::TriggerAgent): option 'rules[1].type' is 'bogus'; "
        "use one of regex, !regex, field==value"
    ) in problems
    assert any(p.startswith("story 'Minimal', action 'Check again' (Agents::TriggerAgent): option 'rules[0]")
               for p in problems)
    assert any("agents[2]: no 'name'" in p for p in problems)
    assert any("links[0]: receiver 5 is out of range" in p for p in problems)


def test_option_validation_can_be_turned_off(fake_types: dict[str, Any]) -> None:
    data = minimal(agent("Agents::TriggerAgent", "Check", options={"rules": [{"type": "bogus"}]}))
    story, _ = parse_story(data, validate_options=False)
    assert story.actions[0].options == {"rules": [{"type": "bogus"}]}


def test_a_crashing_validator_is_reported_not_raised(fake_types: dict[str, Any]) -> None:
    with pytest.raises(StoryFormatError, match=r"checking its options failed \(KeyError: 'boom'\)"):
        parse_story(minimal(agent("Agents::BrokenAgent", "Odd")))


def test_unknown_action_types_are_warnings(fake_types: dict[str, Any]) -> None:
    data = minimal(agent("Agents::LLMAgent", "Ask"), agent("Agents::FrobAgent", "Frob one"),
                   agent("Agents::FrobAgent", "Frob two"), agent("Agents::EmailAgent", "Mail"))
    story, warnings = parse_story(data)
    assert [a.type for a in story.actions] == [
        "Agents::LLMAgent", "Agents::FrobAgent", "Agents::FrobAgent", "Agents::EmailAgent"
    ]
    assert len(warnings) == 3  # one per type
    assert any("storyline cannot run Agents::LLMAgent actions yet ('Ask')" in w for w in warnings)
    assert any("unknown action type 'Agents::FrobAgent' ('Frob one', 'Frob two')" in w for w in warnings)


def test_duplicate_names_keep_the_tines_key_and_warn(fake_types: dict[str, Any]) -> None:
    data = minimal(agent(name="Delay Event", guid="1" * 32), agent(name="Delay event", guid="2" * 32))
    story, warnings = parse_story(data)
    # Templates say {{.delay_event}}: renaming one would break references that work in Tines.
    assert [a.key for a in story.actions] == ["delay_event", "delay_event"]
    assert len(warnings) == 1 and "share the key 'delay_event'" in warnings[0]


def test_a_name_without_letters_or_digits_is_refused(fake_types: dict[str, Any]) -> None:
    with pytest.raises(StoryFormatError, match="no letters or digits"):
        parse_story(minimal(agent(name="!!!", guid="5" * 32)))


def test_embedded_sub_stories_are_kept_and_mentioned(fake_types: dict[str, Any]) -> None:
    data = {**legacy_story(), "send_to_stories": [modern_story()]}
    story, warnings = parse_story(data)
    assert story.extra["send_to_stories"][0]["name"] == "Modern enrichment"
    assert any("embeds 1 sub-story" in w for w in warnings)


def test_bad_schema_version_and_retention(fake_types: dict[str, Any]) -> None:
    with pytest.raises(StoryFormatError) as info:
        parse_story(minimal(agent(name="A", keep_events_for="soon"), schema_version="v4"))
    assert any("'schema_version' is 'v4'" in p for p in info.value.problems)
    assert any("action 'A' (Agents::EventTransformationAgent): 'keep_events_for' is 'soon'" in p
               for p in info.value.problems)


def test_options_must_be_an_object(fake_types: dict[str, Any]) -> None:
    with pytest.raises(StoryFormatError, match="'options' must be a JSON object, got list"):
        parse_story(minimal(agent(name="A", options=["x"])))


# --------------------------------------------------------------------------- files


def test_load_file(tmp_path: Path, fake_types: dict[str, Any]) -> None:
    path = tmp_path / "story.json"
    path.write_text(json.dumps(legacy_story()), encoding="utf-8-sig")  # a BOM is fine
    story, warnings = load_file(path)
    assert story.name == "Legacy phishing triage" and warnings == []


def test_load_file_reports_json_errors_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  "agents": [}\n')
    with pytest.raises(StoryFormatError, match=r"broken.json: not valid JSON: .* at line 3, column 14"):
        load_file(path)


def test_load_file_refuses_empty_and_non_utf8(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(StoryFormatError, match="the file is empty"):
        load_file(empty)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(StoryFormatError, match=r"not UTF-8 text \(byte 0xe9 at offset 13\)"):
        load_file(latin)


def test_load_file_refuses_big_files_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(legacy_story()))
    with pytest.raises(StoryFormatError, match=r"big.json: the file is 1\.\d KB, over the 1 KB limit"):
        load_file(path, max_bytes=1024)
    assert importer.MAX_FILE_BYTES == 5 * 1024 * 1024
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(importer.MAX_FILE_BYTES + 1)  # sparse: nothing to read, refused by size alone
    with pytest.raises(StoryFormatError, match="over the 5 MB limit"):
        load_file(huge)


def test_model_defaults() -> None:
    action = ActionDef(type="Agents::WebhookAgent", name="Receive Slack Command!", guid="abc")
    assert action.key == "receive_slack_command"
    assert action.webhook_path == "abc" and action.webhook_secret is None
    story = StoryDef(name="S", guid="g", actions=[action, ActionDef("Agents::TriggerAgent", "T", "t")],
                     links=[(0, 1)])
    assert story.receivers(0) == [1] and story.sources(1) == [0]
    assert story.action("receive_slack_command") is action and story.action("t").name == "T"
    with pytest.raises(KeyError):
        story.action("missing")


# --------------------------------------------------------------------------- the real corpus


@pytest.mark.parametrize("path", corpus_files())
def test_real_exports_import_with_option_validation(path: Path) -> None:
    """Every real export imports with the real action modules' validation switched on."""
    story, _warnings = load_file(path)
    data = json.loads(path.read_text())
    assert story.name == data["name"]
    assert len(story.actions) == len(data["agents"])
    assert len(story.links) == len(data["links"])

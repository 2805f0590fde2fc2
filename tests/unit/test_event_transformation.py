"""Event Transform: what each mode emits, when, and what it remembers between runs."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from storyline.actions import event_transformation as et
from storyline.actions.base import ActionError, Result, RunContext
from storyline.templating import TemplateError
from tests.corpus import corpus_agents
from tests.support import BUSY, run_context
from tests.unit.memory_state import MemoryState

NOW = 1_700_000_000.0  # a minute boundary is at a multiple of 60: 1_700_000_040.0

_WHOLE = re.compile(r"^\{\{\s*\.?([\w.]+)\s*\}\}$")
_PART = re.compile(r"\{\{\s*\.?([\w.]+)\s*\}\}")


def _lookup(event: Mapping[str, Any], path: str) -> Any:
    current: Any = event
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def tiny_render(value: Any, event: Mapping[str, Any]) -> Any:
    """A stand-in for the template engine, enough to read as Tines does.

    ``{{.a.b}}`` alone yields the value itself (as ``| as_object`` would); inside text it
    is substituted as text.
    """
    if isinstance(value, str):
        if match := _WHOLE.match(value):
            return _lookup(event, match.group(1))
        return _PART.sub(lambda m: str(_lookup(event, m.group(1))), value)
    if isinstance(value, list):
        return [tiny_render(item, event) for item in value]
    if isinstance(value, dict):
        return {key: tiny_render(item, event) for key, item in value.items()}
    return value


def context(
    options: Mapping[str, Any],
    event: Mapping[str, Any] | None = None,
    *,
    now: float = NOW,
    state: MemoryState | None = None,
    job_state: Any = None,
) -> RunContext:
    event = event or {}
    if state is not None:
        state.now = now
    return run_context(et.TYPE, options, event=event, name="Transform", action_id=7, now=now, job_state=job_state,
                       state=state, render=lambda value: tiny_render(value, event), render_event=tiny_render)


def run(options: Mapping[str, Any], event: Mapping[str, Any] | None = None, **kwargs: Any) -> Result:
    return et.run(context(options, event, **kwargs))


# --- message_only -------------------------------------------------------------------------


def test_payload_is_rendered_and_is_the_whole_output() -> None:
    event = {"receive": {"user": "alice", "ids": [1, 2]}}
    options = {
        "mode": "message_only",
        "loop": False,
        "payload": {"who": "{{.receive.user}}", "ids": "{{.receive.ids}}"},
    }
    assert run(options, event).events == [{"who": "alice", "ids": [1, 2]}]


def test_payload_may_be_plain_text() -> None:
    assert run({"mode": "message_only", "payload": "hi {{.u}}"}, {"u": "bob"}).events == ["hi bob"]


def test_legacy_keys_beside_mode_are_the_payload_without_huginn_leftovers() -> None:
    options = {
        "mode": "message_only",
        "status": "{{.jira.status}}",
        "ticket_key": "EN-{{.jira.id}}",
        "expected_update_period_in_days": "2",
        "manual_time": "30",
    }
    assert run(options, {"jira": {"status": 201, "id": 7}}).events == [{"status": 201, "ticket_key": "EN-7"}]


def test_legacy_single_message_key() -> None:
    options = {"mode": "message_only", "message": "{{.sns.Message}}"}
    assert run(options, {"sns": {"Message": {"a": 1}}}).events == [{"message": {"a": 1}}]


def test_loop_renders_the_payload_once_per_element_and_emits_one_list() -> None:
    options = {
        "mode": "message_only",
        "loop": "{{.users}}",
        "payload": {"name": "{{LOOP.value.name}}", "position": "{{LOOP.index}}"},
    }
    result = run(options, {"users": [{"name": "ava"}, {"name": "liam"}]})
    assert result.events == [[{"name": "ava", "position": 0}, {"name": "liam", "position": 1}]]


def test_loop_over_an_object_exposes_each_key() -> None:
    options = {"mode": "message_only", "loop": "{{.scores}}", "payload": "{{LOOP.key}}={{LOOP.value}}"}
    assert run(options, {"scores": {"a": 1, "b": 2}}).events == [["a=1", "b=2"]]


def test_loop_hands_each_iteration_the_previous_result() -> None:
    options = {
        "mode": "message_only",
        "loop": "{{.xs}}",
        "payload": {"prev": "{{LOOP.previous_result.me}}", "me": "{{LOOP.value}}"},
    }
    assert run(options, {"xs": ["a", "b"]}).events == [[{"prev": None, "me": "a"}, {"prev": "a", "me": "b"}]]


@pytest.mark.parametrize("off", [False, "false", ""])
def test_loop_switched_off_renders_once(off: Any) -> None:
    assert run({"mode": "message_only", "loop": off, "payload": {"x": 1}}).events == [{"x": 1}]


def test_loop_over_something_that_is_not_a_collection_is_an_error() -> None:
    with pytest.raises(ActionError, match="option 'loop' must yield a list or an object"):
        run({"mode": "message_only", "loop": "{{.n}}", "payload": "x"}, {"n": 5})


def test_loop_over_a_missing_path_emits_an_empty_list() -> None:
    assert run({"mode": "message_only", "loop": "{{.nothing}}", "payload": "x"}).events == [[]]


def test_a_template_error_in_a_loop_is_an_action_error() -> None:
    def broken(value: Any, event: Mapping[str, Any]) -> Any:
        raise TemplateError("no such filter 'frobnicate'")

    ctx = context(
        {"mode": "message_only", "loop": "{{.xs}}", "payload": "{{ LOOP.value | frobnicate }}"}, {"xs": [1]}
    )
    ctx.render_event = broken
    with pytest.raises(ActionError, match="frobnicate"):
        et.run(ctx)


# --- extract ------------------------------------------------------------------------------

DOMAIN = r"^(?:https?:\/\/)?(?:[^@\n]+@)?(?:www\.)?([^:\/\n?]+)"


def extract(regexp: str, text: Any, to: str = "found") -> Any:
    options = {"mode": "extract", "matchers": [{"path": "{{.text}}", "regexp": regexp, "to": to}]}
    [output] = run(options, {"text": text}).events
    return output[to]


def test_extract_with_capture_groups_gives_one_list_of_groups_per_match() -> None:
    # Stories read ``{{.extract_domain.domain.first.first}}``.
    assert extract(DOMAIN, "https://www.example.com/path") == [["example.com"]]
    assert extract(r"(\w+)@(\w+)", "a@b c@d") == [["a", "b"], ["c", "d"]]


def test_extract_without_groups_gives_the_matched_texts() -> None:
    # Stories explode ``{{.extract_urls.urls}}`` straight into URLs.
    assert extract(r"https?:\/\/[\S]+", "see http://a.io and https://b.io/x") == [
        "http://a.io",
        "https://b.io/x",
    ]


def test_extract_with_no_match_gives_an_empty_list() -> None:
    assert extract(r"\d+", "no digits") == []


def test_extract_is_case_sensitive_unless_the_pattern_says_otherwise() -> None:
    assert extract("alice", "ALICE") == []
    assert extract("(?i)alice", "ALICE") == ["ALICE"]


def test_extract_anchors_match_at_line_breaks_as_in_ruby() -> None:
    assert extract(r"^\w+", "first\nsecond") == ["first", "second"]


def test_extract_searches_non_text_values_as_json() -> None:
    assert extract(r"\d+\.\d+\.\d+\.\d+", ["from 10.0.0.1", "by 8.8.8.8"]) == ["10.0.0.1", "8.8.8.8"]


def test_extract_runs_every_matcher() -> None:
    options = {
        "mode": "extract",
        "matchers": [
            {"path": "{{.body}}", "regexp": r"\d+", "to": "numbers"},
            {"path": "{{.body}}", "regexp": r"[a-z]+", "to": "words"},
        ],
    }
    assert run(options, {"body": "ab 12 cd"}).events == [{"numbers": ["12"], "words": ["ab", "cd"]}]


def test_extract_reports_a_templated_regex_that_does_not_compile() -> None:
    options = {"mode": "extract", "matchers": [{"path": "x", "regexp": "{{.re}}", "to": "y"}]}
    with pytest.raises(ActionError, match=r"option 'matchers\[0\]\.regexp'"):
        run(options, {"re": "(open"})


def test_a_runaway_extract_regex_fails_the_action_for_good_naming_the_matcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORYLINE_REGEX_TIMEOUT", "0.2")
    options = {"mode": "extract", "matchers": [
        {"path": "{{.text}}", "regexp": r"\w+", "to": "words"},
        {"path": "{{.text}}", "regexp": r"^(a|a)*$", "to": "all_a"},
    ]}
    started = time.monotonic()
    with pytest.raises(ActionError) as info:
        run(options, {"text": "a" * 40 + "!"})
    assert time.monotonic() - started < 0.2 + BUSY
    assert str(info.value).startswith("option 'matchers[1].regexp': regular expression '^(a|a)*$' ran past")
    assert not info.value.retryable


def test_extract_understands_ruby_hex_digits_and_end_of_text() -> None:
    assert extract(r"\h{6}\Z", "colour c0ffee\n") == ["c0ffee"]


# --- explode ------------------------------------------------------------------------------


def test_explode_emits_one_event_per_element_sharing_a_guid() -> None:
    result = run(
        {"mode": "explode", "path": "{{.get.body}}", "to": "user"}, {"get": {"body": ["a", "b", "c"]}}
    )
    guids = {event["guid"] for event in result.events}
    assert len(guids) == 1
    assert [(e["index"], e["size"], e["user"]) for e in result.events] == [
        (0, 3, "a"),
        (1, 3, "b"),
        (2, 3, "c"),
    ]


def test_explode_reads_a_list_rendered_as_json_text() -> None:
    result = run({"mode": "explode", "path": "{{.text}}", "to": "n"}, {"text": "[1, 2]"})
    assert [event["n"] for event in result.events] == [1, 2]


@pytest.mark.parametrize("value", [None, "not a list", {"a": 1}])
def test_explode_of_something_that_is_not_a_list_emits_nothing_and_says_why(value: Any) -> None:
    result = run({"mode": "explode", "path": "{{.v}}", "to": "n"}, {"v": value})
    assert result.events == []
    assert "no events emitted" in result.logs[0]


def test_explode_limit_keeps_the_first_elements_and_size_counts_what_was_emitted() -> None:
    result = run({"mode": "explode", "path": "{{.xs}}", "to": "n", "limit": "2"}, {"xs": [1, 2, 3]})
    assert [(e["n"], e["size"]) for e in result.events] == [(1, 2), (2, 2)]
    assert "first 2" in result.logs[0]


def test_explode_default_limit_is_500() -> None:
    result = run({"mode": "explode", "path": "{{.xs}}", "to": "n"}, {"xs": list(range(600))})
    assert len(result.events) == 500


# --- deduplicate --------------------------------------------------------------------------


def dedupe(options: Mapping[str, Any], value: str, state: MemoryState, now: float = NOW) -> Result:
    return run({"mode": "deduplicate", "path": "{{.v}}", **options}, {"v": value}, state=state, now=now)


def test_deduplicate_emits_unique_event_and_drops_repeats_with_a_log() -> None:
    state = MemoryState()
    assert dedupe({"lookback": "100"}, "a", state).events == [{"unique_event": True}]
    repeat = dedupe({"lookback": "100"}, "a", state)
    assert repeat.events == []
    assert "duplicate" in repeat.logs[0]
    assert dedupe({"lookback": "100"}, "b", state).events == [{"unique_event": True}]


def test_deduplicate_lookback_forgets_older_values() -> None:
    state = MemoryState()
    for value in ("a", "b", "c"):
        dedupe({"lookback": 2}, value, state)
    assert dedupe({"lookback": 2}, "a", state).events == [{"unique_event": True}]
    assert dedupe({"lookback": 2}, "c", state).events == []


def test_deduplicate_keeps_its_memory_bounded() -> None:
    state = MemoryState()
    for n in range(25):
        dedupe({"lookback": 5}, str(n), state)
    assert len(state.buckets["dedupe"]) <= 10
    assert dedupe({"lookback": 5}, "24", state).events == []


def test_deduplicate_period_blocks_repeats_until_it_has_elapsed() -> None:
    state = MemoryState()
    assert dedupe({"period": "3700"}, "run-1", state, now=NOW).events == [{"unique_event": True}]
    assert dedupe({"period": "3700"}, "run-1", state, now=NOW + 3600).events == []
    assert dedupe({"period": "3700"}, "run-1", state, now=NOW + 3701).events == [{"unique_event": True}]


@pytest.mark.parametrize("flag", ["emit_duplicate", "emit_duplicates"])
def test_emit_duplicate_passes_repeats_on_marked_not_unique(flag: str) -> None:
    state = MemoryState()
    dedupe({flag: "true"}, "a", state)
    assert dedupe({flag: "true"}, "a", state).events == [{"unique_event": False}]


def test_tolerance_lets_a_value_through_that_many_times() -> None:
    state = MemoryState()
    emitted = [dedupe({"tolerance": "2"}, "a", state).events for _ in range(3)]
    assert emitted == [[{"unique_event": True}], [{"unique_event": True}], []]


def test_deduplicate_without_state_is_an_error() -> None:
    with pytest.raises(ActionError, match="needs action state"):
        run({"mode": "deduplicate", "path": "x"})


# --- delay --------------------------------------------------------------------------------


def test_delay_first_defers_the_job_then_emits_the_seconds_waited() -> None:
    first = run({"mode": "delay", "seconds": "30"})
    assert first.events == []
    assert first.defer_until == NOW + 30
    second = run({"mode": "delay", "seconds": "30"}, now=NOW + 30, job_state=first.state)
    assert second.events == [{"seconds": 30}]
    assert second.defer_until is None


def test_delay_seconds_may_be_a_template() -> None:
    # "Throttle For HIBP API": {{ .explode_breach_names.index | times: 3 }}
    assert run({"mode": "delay", "seconds": "{{.wait}}"}, {"wait": 6}).defer_until == NOW + 6


def test_a_zero_delay_emits_at_once() -> None:
    result = run({"mode": "delay", "seconds": "{{.wait}}"}, {"wait": "0"})
    assert (result.events, result.defer_until) == ([{"seconds": 0}], None)


def test_a_negative_delay_is_an_error() -> None:
    with pytest.raises(ActionError, match="must not be negative"):
        run({"mode": "delay", "seconds": "{{.wait}}"}, {"wait": -5})


def test_delays_are_capped_at_30_days() -> None:
    result = run({"mode": "delay", "seconds": "{{.wait}}"}, {"wait": 90 * 86400})
    assert result.defer_until == NOW + 30 * 86400
    assert "capped" in result.logs[0]


def test_delay_until_a_relative_time() -> None:
    assert run({"mode": "delay", "until": "7 days from now"}).defer_until == NOW + 7 * 86400
    assert run({"mode": "delay", "until": "in 2 hours"}).defer_until == NOW + 7200


def test_delay_until_an_iso_datetime() -> None:
    target = datetime.fromtimestamp(NOW + 600, tz=UTC).isoformat()
    result = run({"mode": "delay", "until": target})
    assert result.defer_until == NOW + 600
    assert result.state["delay_seconds"] == 600


def test_delay_until_text_that_is_not_a_time_is_an_error() -> None:
    with pytest.raises(ActionError, match="option 'until'"):
        run({"mode": "delay", "until": "{{.when}}"}, {"when": "someday"})


# --- implode ------------------------------------------------------------------------------


def exploded(guid: str, index: int, size: int, number: int) -> dict[str, Any]:
    return {"explode_array": {"guid": guid, "index": index, "size": size, "number": number}}


IMPLODE = {"mode": "implode", "guid_path": "{{.explode_array.guid}}", "size_path": "{{.explode_array.size}}"}


def test_implode_collects_whole_events_until_the_group_is_complete() -> None:
    state = MemoryState()
    events = [exploded("g1", i, 3, n) for i, n in enumerate([8, 13, 21])]
    assert run(IMPLODE, events[0], state=state).events == []
    assert run(IMPLODE, events[1], state=state).events == []
    assert run(IMPLODE, events[2], state=state).events == [events]
    assert state.buckets == {}


def test_implode_item_path_collects_just_that_part() -> None:
    state = MemoryState()
    options = {**IMPLODE, "item_path": "{{.explode_array.number}}"}
    outputs = [run(options, exploded("g1", i, 2, n), state=state).events for i, n in enumerate([5, 6])]
    assert outputs == [[], [[5, 6]]]


def test_implode_keeps_groups_apart() -> None:
    state = MemoryState()
    options = {**IMPLODE, "item_path": "{{.explode_array.number}}"}
    run(options, exploded("g1", 0, 2, 1), state=state)
    run(options, exploded("g2", 0, 2, 100), state=state)
    assert run(options, exploded("g1", 1, 2, 2), state=state).events == [[1, 2]]


def test_implode_size_may_be_a_constant() -> None:
    state = MemoryState()
    options = {"mode": "implode", "guid_path": "{{.msg}}", "size_path": "2", "item_path": "{{.n}}"}
    run(options, {"msg": "m1", "n": "a"}, state=state)
    assert run(options, {"msg": "m1", "n": "b"}, state=state).events == [["a", "b"]]


def test_implode_seconds_emits_what_was_collected_when_time_is_up() -> None:
    state = MemoryState()
    options = {**IMPLODE, "item_path": "{{.explode_array.number}}", "seconds": "60"}
    first = run(options, exploded("g1", 0, 3, 1), state=state)
    assert first.events == [] and first.defer_until == NOW + 60
    run(options, exploded("g1", 1, 3, 2), state=state, now=NOW + 10)
    timeout = run(options, exploded("g1", 0, 3, 1), state=state, now=NOW + 60, job_state=first.state)
    assert timeout.events == [[1, 2]]
    assert state.buckets == {}


def test_implode_does_not_emit_twice_when_the_group_filled_before_the_timeout() -> None:
    state = MemoryState()
    options = {**IMPLODE, "item_path": "{{.explode_array.number}}", "seconds": "60"}
    first = run(options, exploded("g1", 0, 2, 1), state=state)
    assert run(options, exploded("g1", 1, 2, 2), state=state).events == [[1, 2]]
    timeout = run(options, exploded("g1", 0, 2, 1), state=state, now=NOW + 60, job_state=first.state)
    assert timeout.events == []


def test_implode_needs_a_usable_size_or_seconds() -> None:
    with pytest.raises(ActionError, match="option 'size_path'"):
        run(IMPLODE, {"explode_array": {"guid": "g", "size": "lots"}}, state=MemoryState())


# --- throttle -----------------------------------------------------------------------------

MINUTE = NOW + 40  # 1_700_000_040: the start of a minute


def test_throttle_passes_the_first_event_at_once_with_its_capacity() -> None:
    state = MemoryState()
    result = run({"mode": "throttle", "runs_per_interval": "10"}, state=state, now=MINUTE)
    assert result.events == [{"capacity_per_minute": 10}]


def test_throttle_defers_excess_events_to_the_next_slot_instead_of_dropping_them() -> None:
    state = MemoryState()
    options = {"mode": "throttle", "runs_per_interval": "1", "interval": "minute"}
    assert run(options, state=state, now=MINUTE + 5).events == [{"capacity_per_minute": 1}]
    second = run(options, state=state, now=MINUTE + 6)
    third = run(options, state=state, now=MINUTE + 7)
    assert (second.events, second.defer_until) == ([], MINUTE + 60)
    assert third.defer_until == MINUTE + 120
    rerun = run(options, state=state, now=MINUTE + 60, job_state=second.state)
    assert rerun.events == [{"capacity_per_minute": 1}]


def test_runs_are_spaced_evenly_across_the_interval() -> None:
    state = MemoryState()
    options = {"mode": "throttle", "runs_per_interval": "20"}  # one run every 3 seconds
    run(options, state=state, now=MINUTE)
    assert run(options, state=state, now=MINUTE + 1).defer_until == MINUTE + 3


def test_events_per_run_lets_several_through_in_one_slot() -> None:
    state = MemoryState()
    options = {"mode": "throttle", "runs_per_interval": "1", "events_per_run": "2"}
    outcomes = [run(options, state=state, now=MINUTE).defer_until for _ in range(3)]
    assert outcomes == [None, None, MINUTE + 60]


def test_throttle_key_gives_each_key_its_own_queue() -> None:
    state = MemoryState()
    options = {"mode": "throttle", "runs_per_interval": "1", "throttle_key": "{{.user}}"}
    assert run(options, {"user": "a"}, state=state, now=MINUTE).events
    assert run(options, {"user": "b"}, state=state, now=MINUTE).events
    assert run(options, {"user": "a"}, state=state, now=MINUTE).events == []


def test_hourly_interval() -> None:
    state = MemoryState()
    options = {"mode": "throttle", "runs_per_interval": "2", "interval": "hour"}
    hour = 1_699_999_200.0
    assert run(options, state=state, now=hour).events == [{"capacity_per_minute": 0.033333}]
    assert run(options, state=state, now=hour + 1).defer_until == hour + 1800


# --- rules (common option) ----------------------------------------------------------------


def test_rules_gate_any_mode() -> None:
    options = {
        "mode": "message_only",
        "payload": {"ok": True},
        "rules": [{"type": "field==value", "path": "{{.status}}", "value": "200"}],
    }
    assert run(options, {"status": 200}).events == [{"ok": True}]
    refused = run(options, {"status": 500})
    assert refused.events == [] and "rules did not match" in refused.logs[-1]


def test_an_empty_rules_list_gates_nothing() -> None:
    options = {"mode": "message_only", "payload": "x", "rules": []}
    assert et.validate(options) == []
    assert run(options).events == ["x"]


# --- validate -----------------------------------------------------------------------------


def test_validate_names_an_unknown_mode_and_lists_the_valid_ones() -> None:
    assert et.validate({"mode": "transmogrify"}) == [
        "option 'mode' must be one of message_only, extract, explode, deduplicate, delay, implode, throttle "
        "(got 'transmogrify')"
    ]


def test_automatic_mode_is_refused_because_it_needs_tines_ai() -> None:
    [problem] = et.validate({"mode": "automatic", "guidance": "sum the numbers"})
    assert problem.startswith("option 'mode' is 'automatic', which storyline does not support")
    with pytest.raises(ActionError, match="not supported"):
        run({"mode": "automatic"})


def test_validate_compiles_literal_extract_regexes() -> None:
    options = {
        "mode": "extract",
        "matchers": [
            {"path": "{{.a}}", "regexp": "ok", "to": "a"},
            {"path": "{{.b}}", "regexp": "(bad", "to": "b"},
        ],
    }
    [problem] = et.validate(options)
    assert problem.startswith("option 'matchers[1].regexp' is not a valid regular expression: ")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"mode": "extract"}, "option 'matchers' must be a non-empty list"),
        ({"mode": "explode", "path": "{{.x}}"}, "option 'to' must name the key"),
        ({"mode": "explode", "path": "{{.x}}", "to": "y", "limit": "0"}, "option 'limit' must be a positive"),
        (
            {"mode": "deduplicate", "path": "{{.x}}", "lookback": "5000"},
            "option 'lookback' must be a whole number from 1 to 1000",
        ),
        (
            {"mode": "deduplicate", "path": "x", "lookback": "5", "period": "5"},
            "options 'lookback' and 'period' exclude",
        ),
        ({"mode": "delay"}, "delay mode needs exactly one of option 'seconds' or option 'until'"),
        ({"mode": "delay", "seconds": "-1"}, "option 'seconds' must be a number of seconds, 0 or more"),
        ({"mode": "delay", "seconds": 40 * 86400}, "option 'seconds' must be at most 2592000"),
        ({"mode": "delay", "until": "whenever"}, "option 'until' must be an ISO date/time"),
        (
            {"mode": "implode", "guid_path": "{{.g}}"},
            "implode mode needs option 'size_path' or option 'seconds'",
        ),
        ({"mode": "implode", "size_path": "3"}, "option 'guid_path' is required"),
        ({"mode": "throttle", "interval": "week"}, "option 'interval' must be one of minute, hour, day"),
        (
            {"mode": "throttle", "events_per_run": "11"},
            "option 'events_per_run' must be a whole number from 1 to 10",
        ),
        (
            {"mode": "message_only", "payload": {}, "rules": [{"type": "maybe", "path": "x", "value": "y"}]},
            "option 'rules[0].type' must be one of",
        ),
    ],
)
def test_validate_names_the_option_at_fault(options: dict[str, Any], problem: str) -> None:
    problems = et.validate(options)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_templated_values_are_left_for_run_time() -> None:
    assert et.validate({"mode": "delay", "seconds": "{{ .x | times: 3 }}"}) == []
    assert et.validate({"mode": "explode", "path": "=receive_events.users", "to": "user"}) == []


def test_every_event_transform_in_the_real_tines_exports_validates() -> None:
    actions = corpus_agents(et.TYPE)
    assert actions, "the corpus holds event transform actions"
    problems = [(file, name, et.validate(options)) for file, name, options in actions]
    assert [p for p in problems if p[2]] == []

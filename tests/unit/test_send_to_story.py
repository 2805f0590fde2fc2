"""Send to Story, the action alone: what it validates, which story it names, what it sends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storyline.actions import send_to_story
from storyline.actions.base import ActionError, SendToStory
from storyline.model import find_story, static_target
from storyline.templating import StaticScope, render_value
from tests.corpus import corpus_agents
from tests.support import run_context

STORIES = [(1, "a1b2", "STS Check VIPs", "sts_check_vips"), (2, "c3d4", "Okta User Lookup", "okta_user_lookup"),
           (3, "e5f6", "okta user lookup", "okta_user_lookup_2")]


def run(options: dict[str, Any], event: dict[str, Any] | None = None, job_state: Any = None) -> Any:
    event = event or {}
    scope = StaticScope()
    ctx = run_context(send_to_story.TYPE, options, event=event, name="Send", action_id=9, scope=scope,
                      job_state=job_state, render=lambda value: render_value(value, event, scope))
    return asyncio.run(send_to_story.run(ctx))


@pytest.mark.parametrize(
    ("options", "target"),
    [({"story": "{% story STS Check VIPs %}"}, "STS Check VIPs"),
     ({"story": "{% story Azure Sentinel Storyboard%}"}, "Azure Sentinel Storyboard"),
     ({"story": "{{ .STORY.martin_spam.sts_analyze_headers }}"}, "martin_spam.sts_analyze_headers"),
     ({"story": "<<STORY.analyze_url>>"}, "analyze_url"),
     ({"story": 7}, "7"),
     ({"story": "Plain Name"}, "Plain Name"),
     ({"story": "{{ .pick.story }}"}, None),
     ({}, None)],
)
def test_static_target_is_what_the_importer_can_resolve_without_an_event(options: dict[str, Any],
                                                                          target: str | None) -> None:
    assert static_target(options) == target


def test_find_story_prefers_id_then_guid_then_exact_name_then_folded_name_then_slug() -> None:
    assert find_story("2", STORIES) == [2]
    assert find_story("e5f6", STORIES) == [3]
    assert find_story("okta user lookup", STORIES) == [3]
    assert find_story("STS CHECK VIPS", STORIES) == [1]
    assert find_story("team.sts_check_vips", STORIES) == [1]
    assert find_story("Nope", STORIES) == []


def test_the_payload_is_sent_under_body_by_default() -> None:
    result = run({"story": "{% story STS Check VIPs %}", "payload": {"email": "{{.alert.email}}"}},
                 {"alert": {"email": "a@example.com"}})
    assert result.send_to_story == SendToStory("STS Check VIPs", {"body": {"email": "a@example.com"}})
    assert result.events == []


def test_send_payload_as_body_false_sends_the_fields_themselves() -> None:
    result = run({"story": "X", "payload": {"k": "v"}, "send_payload_as_body": "false"})
    assert result.send_to_story == SendToStory("X", {"k": "v"})


def test_a_story_option_that_renders_empty_fails_clearly() -> None:
    with pytest.raises(ActionError, match="option 'story' rendered empty"):
        run({"story": "{{ .missing }}"})


def test_a_waiting_job_that_runs_again_has_outlived_its_sub_story() -> None:
    with pytest.raises(ActionError, match="did not finish before its events expired"):
        run({"story": "X"}, job_state={"sub_run": "r1", "story": "X"})


@pytest.mark.parametrize(
    ("options", "message"),
    [({}, "option 'story' is required"), ({"story": " "}, "option 'story' is required"),
     ({"story": ["a"]}, "option 'story' must be a story name or id"),
     ({"story": "X", "send_payload_as_body": 1}, "option 'send_payload_as_body' must be true or false")],
)
def test_validate_names_the_option(options: dict[str, Any], message: str) -> None:
    [problem] = send_to_story.validate(options)
    assert message in problem


def test_every_send_to_story_action_in_the_corpus_validates() -> None:
    agents = corpus_agents(send_to_story.TYPE)
    assert agents
    assert {(file, name): send_to_story.validate(options) for file, name, options in agents
            if send_to_story.validate(options)} == {}

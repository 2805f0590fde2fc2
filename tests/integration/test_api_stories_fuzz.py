"""Whatever JSON an editor sends to the import and the action edit, the answer is a clear 2xx or 4xx, never a 500.

Hypothesis builds bodies from near-valid stories (known action types with arbitrary options, names,
guids, paths and schedules) and from arbitrary JSON; both databases, because PostgreSQL refuses
text SQLite stores (NUL characters, names longer than their column).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.apiclient import api_on
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))

text = st.text(max_size=300)
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.floats(
    allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=20), inner, max_size=4), max_leaves=20)
options = st.dictionaries(
    st.sampled_from(["url", "method", "path", "secret", "mode", "payload", "rules", "verbs", "response_code",
                     "headers", "content_type", "timeout", "verification", "rate_limit", "to", "matchers"]),
    json_values, max_size=6)
agents = st.fixed_dictionaries({
    "type": st.sampled_from([WEBHOOK, TRANSFORM, HTTP, "Agents::TriggerAgent", "Agents::Unknown"]) | text,
    "name": text, "options": options | json_values,
}, optional={"guid": json_values, "schedule": json_values, "disabled": json_values,
             "keep_events_for": json_values})
stories = st.fixed_dictionaries({"name": text | json_values, "agents": st.lists(agents, max_size=4)},
                                optional={"guid": text | json_values, "links": json_values,
                                          "keep_events_for": json_values, "schema_version": json_values,
                                          "entry_agent_guid": json_values, "description": json_values})
import_bodies = st.fixed_dictionaries(
    {"data": stories | json_values},
    optional={"new_name": text | json_values, "mode": st.sampled_from(["new", "versionReplace", "copy"]) | text,
              "team_id": json_values}) | json_values


def fuzzed(database_url: str) -> Any:
    return api_on(database_url, story("Base", [agent(WEBHOOK, "Hook", path="base", secret="s"),
                                               agent(HTTP, "Fetch", url="https://example.com")], [(0, 1)]))


def test_any_import_body_is_answered_without_a_server_error(database_url: str) -> None:
    with fuzzed(database_url) as api:

        @FUZZ
        @given(body=import_bodies)
        def check(body: Any) -> None:
            answer = api.send("POST", "/api/v1/stories/import", "editor", json=body)
            assert answer.status_code in (200, 201, 409, 422), (answer.status_code, answer.text)

        check()


def test_any_action_edit_is_answered_without_a_server_error(database_url: str) -> None:
    with fuzzed(database_url) as api:
        ids = [a["id"] for a in api.get("/api/v1/actions", "editor").json()["agents"]]
        edits = st.fixed_dictionaries({}, optional={"name": text | json_values, "options": options | json_values,
                                                    "disabled": json_values}) | json_values

        @FUZZ
        @given(action_id=st.sampled_from(ids), body=edits)
        def check(action_id: int, body: Any) -> None:
            answer = api.send("PUT", f"/api/v1/actions/{action_id}", "editor", json=body)
            assert answer.status_code in (200, 409, 422), (answer.status_code, answer.text)

        check()

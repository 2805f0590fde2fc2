"""Whatever a script sends the runs and accounts API, the answer is a JSON 2xx or 4xx, never a 500.

Hypothesis sends arbitrary query parameters (NUL bytes, huge numbers, odd dates, forged cursors),
path segments and JSON bodies to every list, read and change of ``web/api/runs.py`` and
``web/api/accounts.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.apiclient import Api, api_on
from tests.builders import TRANSFORM, WEBHOOK, agent, story

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LISTS = ["/api/v1/events", "/api/v1/story_runs", "/api/v1/logs", "/api/v1/audit_logs", "/api/v1/users",
         "/api/v1/tokens"]
PARAMETERS = ["story_id", "action_id", "story_run_guid", "since", "since_id", "level", "actor", "action",
              "per_page", "cursor"]

values = st.one_of(
    st.text(max_size=40), st.integers().map(str), st.floats().map(str),
    st.sampled_from(["", "-1", "0", str(2**63), str(2**64), "1e999", "2024-02-30", "9999-12-31T23:59:59+14:00",
                     "0001-01-01T00:00:00-12:00", "W10", "WzFd", "\x00", "info", "error"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Mostly objects with the endpoint's fields (some right, some not), sometimes any JSON at all."""
    shaped = st.fixed_dictionaries({}, optional={name: st.one_of(good, json_values) for name, good in fields.items()})
    return st.one_of(shaped, json_values)


ROLES = st.sampled_from(["viewer", "editor", "admin", "root", ""])
USER = {"email": st.emails().map(str), "role": ROLES, "password": st.text(min_size=10, max_size=20)}
TOKEN = {"name": st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\Z"), "role": ROLES}


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    hooks = story("Fuzzed", [agent(WEBHOOK, "Receive", path="receive", secret="s3cret", verbs="post"),
                             agent(TRANSFORM, "Tag", mode="message_only", payload={"tag": "x"})], [(0, 1)])
    with api_on(database_url, hooks) as api:
        assert api.client.post("/webhook/receive/s3cret", json={"kind": "seed"}).status_code == 201
        yield api


def answered(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != 204:
        assert response.headers["content-type"] == "application/json", response.text


@FUZZ
@given(path=st.sampled_from(LISTS), params=st.dictionaries(st.sampled_from(PARAMETERS), values, max_size=4))
def test_any_query_on_any_list_is_answered_without_a_server_error(api: Api, path: str,
                                                                  params: dict[str, str]) -> None:
    answered(api.get(path, params=params))


@FUZZ
@given(segment=st.one_of(st.text(min_size=1, max_size=40), st.integers(min_value=0).map(str)),
       where=st.sampled_from(["/api/v1/events/{}", "/api/v1/story_runs/{}", "/api/v1/events/{}/reemit"]))
def test_any_id_or_guid_in_a_path_is_answered_without_a_server_error(api: Api, segment: str, where: str) -> None:
    method = "POST" if where.endswith("reemit") else "GET"
    answered(api.send(method, where.format(quote(segment, safe="")), "editor"))


@FUZZ
@given(body=bodies(USER))
def test_any_new_user_body_is_answered_without_a_server_error(api: Api, body: Any) -> None:
    answered(api.send("POST", "/api/v1/users", json=body))


@FUZZ
@given(body=bodies({"role": ROLES, "password": st.text(max_size=20)}),
       ref=st.one_of(st.emails().map(str), st.text(min_size=1, max_size=20), st.integers(min_value=0).map(str)))
def test_any_user_change_is_answered_without_a_server_error(api: Api, body: Any, ref: str) -> None:
    answered(api.send("PUT", f"/api/v1/users/{quote(ref, safe='')}", json=body))
    answered(api.send("DELETE", f"/api/v1/users/{quote(ref, safe='')}"))


@FUZZ
@given(body=bodies(TOKEN), name=st.text(min_size=1, max_size=20).filter(lambda n: not n.startswith("test-")))
def test_any_token_body_or_name_is_answered_without_a_server_error(api: Api, body: Any, name: str) -> None:
    answered(api.send("POST", "/api/v1/tokens", json=body))
    answered(api.send("DELETE", f"/api/v1/tokens/{quote(name, safe='')}"))

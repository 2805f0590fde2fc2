"""Hostile bodies for the credentials, resources and packs endpoints: a 4xx that says why, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.apiclient import Api, api_on

scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
KEYS = ["name", "value", "value_type", "mode", "allowed_hosts", "oauth_token_url", "oauth_client_id",
        "oauth_client_secret", "oauth_grant_type", "http_request_options", "http_request_location_of_token",
        "http_request_ttl", "typed_value", "replace", "team_id"]
names = st.sampled_from(["ok", "a.b", "", "x" * 300, "with space", "ü", "1"]) | st.text(max_size=20)
bodies = st.fixed_dictionaries({}, optional={key: (names if key == "name" else json_values) for key in KEYS}) | json_values
CALLS = [("POST", "/api/v1/user_credentials"), ("POST", "/api/v1/global_resources"),
         ("PUT", "/api/v1/global_resources/1"), ("POST", "/api/v1/packs/security-chatbot/install"),
         ("DELETE", "/api/v1/user_credentials/{ref}"), ("GET", "/api/v1/global_resources?typed_value={ref}")]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with api_on(f"sqlite:///{path}") as api:
        api.send("POST", "/api/v1/global_resources", json={"name": "seed", "value": "x"})
        yield api


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=st.sampled_from(CALLS), body=bodies, ref=names)
def test_no_body_makes_the_api_answer_500(api: Api, call: tuple[str, str], body: object, ref: str) -> None:
    method, path = call
    answer = api.send(method, path.replace("{ref}", quote(ref, safe="") or "x"), json=body)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error", "detail"}

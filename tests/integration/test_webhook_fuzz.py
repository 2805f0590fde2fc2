"""Whatever reaches a webhook, the answer is never a 5xx and the database never holds half a request.

Hypothesis sends arbitrary methods, content types, headers and bodies (bytes, deep JSON, forms, huge
numbers) to webhooks of every kind: plain, storing headers, with rules, Slack-verified and
HMAC-verified. After each request the store must be whole: every story run has exactly its entry
event, and every job points at an event of its run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.app import create_app
from tests.builders import TRIGGER, WEBHOOK, agent, story

SECRET = "fuzz-secret-9d2e"
SLACK_SIGNING = "slack-signing-secret-1234"
HMAC_KEY = "hmac-key-5678"

PATHS = ("plain", "headers", "rules", "slack", "signed")


def fuzz_story() -> dict[str, Any]:
    hooks = [
        agent(WEBHOOK, "Plain", path="plain", secret=SECRET, verbs="get,post,put,patch,delete"),
        agent(WEBHOOK, "Headers", path="headers", secret=SECRET, verbs="post", include_headers="true"),
        agent(WEBHOOK, "Rules", path="rules", secret=SECRET, verbs="post",
              rules=[{"type": "regex", "path": "{{.rules.text}}", "value": "^(\\w+\\s?)*$"},
                     {"type": "field>value", "path": "{{.rules.n}}", "value": "3"}]),
        agent(WEBHOOK, "Slack", path="slack", verbs="post",
              verification={"type": "slack", "signing_secret": SLACK_SIGNING}),
        agent(WEBHOOK, "Signed", path="signed", secret=SECRET, verbs="post",
              verification={"type": "hmac", "secret": HMAC_KEY, "header": "x-signature",
                            "algorithm": "sha256", "encoding": "hex"}),
        agent(TRIGGER, "After", rules=[{"type": "regex", "path": "{{.plain}}", "value": "."}]),
    ]
    return story("Fuzz", hooks, [(i, len(hooks) - 1) for i in range(len(hooks) - 1)])


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    from tests.harness import load_stories

    load_stories(database_url, fuzz_story())
    app = create_app(Settings(database_url=database_url, max_body_bytes=64 * 1024), worker=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _deep(depth: int) -> bytes:
    """JSON nested ``depth`` levels, written as text (building it as objects would hit the recursion limit)."""
    if depth % 2:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"1" + b"]" * depth


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)

bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=5000).map(_deep),
    st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=5).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")
    ),
    st.just(b'{"text": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "n": 5}'),
    st.just(b"123456789012345678901234567890"),
)

content_types = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "text/plain", "application/xml",
    "multipart/form-data; boundary=x", "application/json; charset=latin-1", "", "garbage/\x7f",
])

header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
slack_headers = st.fixed_dictionaries({}, optional={
    "x-slack-request-timestamp": st.one_of(st.text(max_size=30), st.integers().map(str), st.just("9" * 400)),
    "x-slack-signature": st.one_of(st.text(max_size=80), st.just("v0=" + "0" * 64)),
})


def _printable(value: str) -> str:
    return "".join(ch for ch in value if 0x20 <= ord(ch) <= 0x7E)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(PATHS))
    body = draw(bodies)
    headers = {name: value for name, value in draw(st.dictionaries(header_names, header_values, max_size=5)).items()
               if name not in ("content-length", "host", "transfer-encoding")}
    headers["content-type"] = _printable(draw(content_types))
    headers.update({k: _printable(v) for k, v in draw(slack_headers).items()})
    if path == "signed" and draw(st.booleans()):
        headers["x-signature"] = hmac.new(HMAC_KEY.encode(), body, hashlib.sha256).hexdigest()
    secret = draw(st.sampled_from([SECRET, "", "wrong", SECRET + "x"]))
    url = f"/webhook/{path}/{secret}" if secret else f"/webhook/{path}"
    if draw(st.booleans()):
        url += "?" + draw(st.sampled_from(["a=1", "secret=" + SECRET, "x=%ff%fe", "q=" + "9" * 50]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]))
    return {"method": method, "url": url, "headers": headers, "content": body}


def assert_store_is_whole(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            runs = set(conn.execute(sa.select(t.story_runs.c.guid)).scalars())
            entries: dict[str, int] = {}
            for run, job_id in conn.execute(sa.select(t.events.c.story_run, t.events.c.job_id)):
                assert run in runs, f"an event of run {run} has no story run"
                if job_id is None:
                    entries[run] = entries.get(run, 0) + 1
            assert all(entries.get(run) == 1 for run in runs), "a story run without exactly one entry event"
            event_runs = dict(conn.execute(sa.select(t.events.c.id, t.events.c.story_run)).all())
            for event_id, run in conn.execute(sa.select(t.jobs.c.event_id, t.jobs.c.story_run)):
                assert event_id is None or event_runs.get(event_id) == run, "a job whose event is not of its run"
    finally:
        engine.dispose()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_no_request_gets_a_5xx_or_leaves_half_a_record(
    client: TestClient, database_url: str, request: dict[str, Any]
) -> None:
    response = client.request(**request)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert_store_is_whole(database_url)

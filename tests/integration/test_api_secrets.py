"""No API answer, audit entry or log line holds a credential value: set one, use it, read everything."""

from __future__ import annotations

import logging

import pytest

from storyline.accounts.audit import entries
from storyline.credentials.stored import credential_page
from storyline.store.db import make_engine
from storyline.web.api import ENDPOINTS
from tests.apiclient import Api, api_on
from tests.builders import HTTP, WEBHOOK, agent, story
from tests.fakes.httpbin import FakeHttpbin
from tests.support import eventually

VALUES = ["first-secret-value-4711", "rotated-secret-value-0815"]


def echoing_story() -> dict:
    """An upstream that echoes the credential back: the worst case for a leak."""
    return story("Echo", [
        agent(WEBHOOK, "Receive", path="echo", secret="s3cret", verbs="post"),
        agent(HTTP, "Call", method="post", url="https://httpbin.example/anything", content_type="json",
              headers={"authorization": "Bearer {{ .CREDENTIAL.upstream }}"},
              payload={"key": "{{ .CREDENTIAL.upstream }}"}),
    ], [(0, 1)])


def lists() -> list[str]:
    return [e.full_path for e in ENDPOINTS if e.method == "GET" and "{" not in e.path]


def run_once(api: Api, runs: int) -> None:
    assert api.client.post("/webhook/echo/s3cret", json={}).is_success
    eventually(lambda: len(api.outputs("Call")) == runs, what=lambda: api.outputs("Call"))


def test_a_credential_value_appears_in_no_answer_audit_entry_or_log_line(
    database_url: str, bin_server: FakeHttpbin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with api_on(database_url, echoing_story(), worker=True,
                egress_overrides={"httpbin.example": bin_server.url}) as api:
        for runs, value in enumerate(VALUES, start=1):
            answer = api.send("POST", "/api/v1/user_credentials", json={"name": "upstream", "value": value})
            seen.append(answer.text)
            run_once(api, runs)
        assert api.outputs("Call")[-1]["body"]["json"] == {"key": "[credential:upstream]"}
        bad = api.send("POST", "/api/v1/user_credentials", json={"name": "x y", "value": VALUES[0]})
        assert bad.status_code == 422
        seen.append(bad.text)
        for path in lists():
            answer = api.get(path)
            assert answer.status_code == 200, (path, answer.text)
            seen.append(answer.text)
        seen.append(api.get("/api/v1/openapi.json").text)
        seen.append(repr(api.outputs("Call")))
    engine = make_engine(database_url)
    with engine.connect() as conn:
        seen.append(repr(entries(conn, limit=1000)))
        [credential] = credential_page(conn, after_id=None, limit=1, name="upstream")
    engine.dispose()
    assert credential["last_used_at"] is not None, "the service's last flush records when it was used"
    seen += [record.getMessage() for record in caplog.records]
    seen.append(caplog.text)
    everything = "\n".join(seen)
    assert "/api/v1/user_credentials" in lists() and "/api/v1/global_resources" in lists()
    for value in VALUES:
        assert value not in everything

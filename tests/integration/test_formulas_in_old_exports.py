"""A story exported before Tines had formulas sends its leading ``=`` as text, its Liquid rendered.

The 2021 (schema 3) header ``="{{ .RESOURCE.tines_api_email }}"`` used to go out as the
formula it looks like, a quoted text: ``{{ .RESOURCE.tines_api_email }}``. Tines rendered
every option of such a story as Liquid (sources in ``templating/values.py``), so the header
is ``="alice@example.com"``. A newer story's formulas still evaluate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from storyline.credentials import model as creds
from storyline.store.resources import save_resource
from tests.builders import HTTP, WEBHOOK, agent, story
from tests.corpus import shared_story
from tests.fakes.httpbin import FakeHttpbin
from tests.fakes.jira import FakeJira
from tests.harness import Harness
from tests.integration.test_credentials import fresh, save

BIN = "https://httpbin.example"
EMAIL = "alice@example.com"


def blocklist_story(schema_version: int, header: str, response: str, payload: dict[str, Any]) -> dict[str, Any]:
    return story("Update blocklist", [
        agent(WEBHOOK, "Receive", path="block", secret="s3cret", verbs="post", response=response),
        agent(HTTP, "Update a blocklist", url=f"{BIN}/anything", method="put", content_type="json",
              headers={"x-user-email": header}, payload=payload),
    ], [(0, 1)], schema_version=schema_version)


async def run_blocklist(h: Harness, data: dict[str, Any]) -> Any:
    """Post an alert to the story's webhook; the webhook's answer."""
    await h.service.db.write(lambda conn: save_resource(conn, "tines_api_email", EMAIL, time.time()))
    await fresh(h)
    await h.load(data)
    reply = await h.post("block", "s3cret", {"ip": "203.0.113.9"})
    await h.drain()
    return reply.content


async def test_a_2021_header_with_a_leading_equals_is_sent_with_its_liquid_rendered(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    data = blocklist_story(3, '="{{ .RESOURCE.tines_api_email }}"', '="{{ .receive.ip }}"',
                           {"value": "{{ .receive.ip }}", "note": "=UPCASE(receive.ip)", "pill": "<<receive.ip>>"})
    async with Harness(database_url, egress_overrides={"httpbin.example": httpbin.url}) as h:
        response = await run_blocklist(h, data)
        [call] = httpbin.calls
        assert call.headers["x-user-email"] == f'="{EMAIL}"'
        assert call.json() == {"value": "203.0.113.9", "note": "=UPCASE(receive.ip)", "pill": "<<receive.ip>>"}
        assert response == '="203.0.113.9"'


async def test_a_newer_story_s_formulas_still_evaluate(database_url: str, httpbin: FakeHttpbin) -> None:
    data = blocklist_story(18, "=RESOURCE.tines_api_email", "=receive.ip",
                           {"value": "{{ .receive.ip }}", "note": "=UPCASE(receive.ip & 'x')", "pill": "<<receive.ip>>"})
    async with Harness(database_url, egress_overrides={"httpbin.example": httpbin.url}) as h:
        response = await run_blocklist(h, data)
        [call] = httpbin.calls
        assert call.headers["x-user-email"] == EMAIL
        assert call.json() == {"value": "203.0.113.9", "note": "203.0.113.9X", "pill": "203.0.113.9"}
        assert response == "203.0.113.9"


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with FakeJira() as server:
        yield server


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_real_2021_export_s_jira_comment_heading_is_sent_as_text(database_url: str, jira: FakeJira) -> None:
    """The only values of the real pre-formula exports that begin with ``=``: GreyNoise's comment heading."""
    jira.reset()
    data = json.loads(shared_story("blog--cut_through_the_noise_using_greynoise_with_tines.json").read_text())
    assert data["schema_version"] == 3
    async with Harness(database_url, egress_overrides={"jira.example": jira.url}) as h:
        await save(h, creds.text("jira", jira.token))
        for name, value in (("jira_url", "jira.example"), ("jira_username", jira.user)):
            await h.service.db.write(lambda conn, n=name, v=value: save_resource(conn, n, v, time.time()))
        await fresh(h)
        await h.load(data)
        await h.ingest("Create High Priority Issue in Jira", {"body": {"key": "DEMO-7"}})
        await h.drain()
        [(issue, comment)] = jira.comments
        assert issue == "DEMO-7"
        assert comment["body"].startswith("===GreyNoise IP Lookup===\nVerdict: None\nActor: Unknown\n")

"""A second attacker's pass over `storyline serve`: variants of issue 12's findings that it did not list.

An outsider who can reach webhooks, and a story author with bad luck (an upstream that
echoes, a URL that does not parse, a sender who knows which options a story reads).
Each test names what holds; the stories keep their real URLs and egress overrides send
them to the fakes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.credentials import model as creds
from storyline.egress.redaction import redact
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.store.queries import list_logs
from storyline.templating import TemplateError, jsonpath
from storyline.web.app import create_app
from tests.builders import TRANSFORM, WEBHOOK, agent, story
from tests.fakes.httpbin import FakeHttpbin
from tests.harness import load_stories
from tests.integration.test_credentials import BIN, failed_errors, harness, http_story, run, save
from tests.support import BUSY

HOOK_SECRET = "hook-secret-9d27e1"
API_KEY = "vt-0f3c9a1b7d2e4f60a8c5b3e1d9f7a2c4e6b8d0f1a3c5e7b9"


def _events(database_url: str) -> list[Any]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.events.c.payload).order_by(t.events.c.id)).scalars().all()
    engine.dispose()
    return list(rows)


def _recorded(h: Any) -> str:
    """Everything a harness's storyline recorded: events, jobs (their errors), logs."""
    with h.engine.connect() as conn:
        logs = list_logs(conn, limit=10_000)
    return repr([h.events(), logs, h.jobs()])


# -- webhooks, as an outsider ---------------------------------------------------------------------------


def _hooks() -> list[dict[str, Any]]:
    echo = story("Echo", [agent(WEBHOOK, "Echo hook", path="echo", secret=HOOK_SECRET, verbs="get,post",
                                include_headers="true")], [])
    listed = story("Listed", [agent(WEBHOOK, "Listed", path="listed", secret="s", verbs="post", rules=[
        {"type": "in", "path": "{{.listed.tags}}", "value": "urgent"}])], [])
    return [echo, listed]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    load_stories(database_url, *_hooks())
    with TestClient(create_app(Settings(database_url=database_url), worker=False)) as test_client:
        yield test_client


def test_a_stored_request_never_keeps_the_webhook_secret_inside_a_longer_header(
    client: TestClient, database_url: str
) -> None:
    # A reverse proxy or a browser names the URL the request was sent to, secret and all.
    sent = {
        "x-forwarded-uri": f"/webhook/echo/{HOOK_SECRET}",
        "x-original-url": f"/webhook/echo/{HOOK_SECRET}?a=1",
        "referer": f"https://siem.example/webhook/echo/{HOOK_SECRET}",
        "x-request-id": "req-8",
    }
    assert client.post(f"/webhook/echo/{HOOK_SECRET}", json={"alert": 1}, headers=sent).status_code == 201
    [event] = _events(database_url)
    assert event["echo_hook"]["headers"]["x-request-id"] == "req-8"
    assert HOOK_SECRET not in orjson.dumps(event).decode()


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE", "PROPFIND", "TRACE"])
def test_every_method_gets_the_same_answer_at_an_unknown_path_and_with_a_wrong_secret(
    client: TestClient, method: str
) -> None:
    answers = {(r.status_code, r.text) for r in (
        client.request(method, url) for url in ("/webhook/nope/x", "/webhook/echo/x", "/webhook/nope", "/webhook/echo"))}
    assert len(answers) == 1, answers
def test_a_rule_reading_deeply_nested_json_text_from_a_sender_is_no_server_error(
    client: TestClient, database_url: str
) -> None:
    # ``in`` reads a list rendered as JSON text back as the list; a sender's text can be "[[[[...".
    answer = client.post("/webhook/listed/s", json={"tags": "[" * 100_000})
    assert answer.status_code == 200 and answer.text == "No rules matched"
    assert client.post("/webhook/listed/s", json={"tags": '["urgent"]'}).status_code == 201
    assert len(_events(database_url)) == 1




async def test_explode_over_deeply_nested_json_text_fails_once_with_a_plain_error(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await h.load(story("Explode", [
            agent(WEBHOOK, "Receive", path="cred", secret="s3cret", verbs="post"),
            agent(TRANSFORM, "Each", mode="explode", path="{{.receive.items}}", to="item"),
        ], [(0, 1)]))
        await run(h, {"items": "[" * 100_000})
        [job] = [job for job in h.jobs() if job["action_id"] == h.action("Each").id]
        assert job["attempts"] == 1
        assert "RecursionError" not in _recorded(h)
# -- templates over a sender's data ---------------------------------------------------------------------


def test_jsonpath_recursive_descent_over_a_wide_event_takes_linear_time() -> None:
    # A 2 MB body is a list of a million numbers; a story's ``$..id`` must not take minutes over it
    # (pure transforms run inside the database writer, which every webhook's acknowledgement waits on).
    wide = {"items": [0] * 1_000_000 + [{"id": 7}]}
    started = time.monotonic()
    assert jsonpath.query(wide, "$..id") == [7]
    assert time.monotonic() - started < BUSY




def test_a_jsonpath_that_multiplies_over_a_deep_event_fails_instead_of_running_for_hours() -> None:
    # 15,000 chains 60 lists deep fit in a 2 MB body; ``$..*..*..*`` would visit some 10^11 values.
    chain: Any = 0
    for _ in range(60):
        chain = [chain]
    # CPU time, not wall-clock: with four test workers on two cores, 3 s of work took 5.3 s of wall time.
    started = time.thread_time()
    with pytest.raises(TemplateError, match="selects more than"):
        jsonpath.query([chain] * 15_000, "$..*..*..*")
    assert time.thread_time() - started < BUSY


# -- credentials in what storyline records ----------------------------------------------------------------


async def test_a_secret_in_a_url_that_does_not_parse_is_not_shown_even_in_part(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", API_KEY))
        await h.load(http_story(url="https://api.example.com:443a/v1/lookup?key={% credential vt %}", method="get"))
        await run(h)
        assert httpbin.calls == []
        [error] = failed_errors(h)
        assert "api.example.com" in error
        recorded = _recorded(h)
        assert API_KEY[:12] not in recorded, recorded


PASSWORD = "p@ss word!(x)é;42"
"""A password as people choose them: httpx writes it into a URL as ``p@ss%20word!(x)%C3%A9;42``,
keeping what a URL allows (``@!();``), which is neither the value nor any ``quote`` of it."""


async def test_a_secret_an_upstream_echoes_as_the_url_it_was_sent_to_is_redacted(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("pw", PASSWORD))
        await h.load(http_story(url=f"{BIN}/anything?password={{% credential pw %}}", method="get"))
        [*_, event] = await run(h)
        assert httpbin.calls[0].query == "password=p@ss%20word!(x)%C3%A9;42"
        assert event["output"]["body"]["url"].endswith("?password=[credential:pw]")
        assert "ss%20word" not in _recorded(h)


@pytest.mark.parametrize("written", [
    "p%40ss%20word%21%28x%29%c3%a9%3b42",  # lower-case percent-encoding (some clients write it so)
    "7040737320776f726421287829c3a93b3432",  # hex of its UTF-8 bytes
    "7040737320776F726421287829C3A93B3432",
])
def test_a_secret_written_in_lower_case_percent_encoding_or_hex_is_redacted(written: str) -> None:
    assert redact(f"echo: {written}.", {PASSWORD: "[credential:pw]"}) == "echo: [credential:pw]."


async def test_a_secret_an_upstream_echoes_as_a_key_is_redacted(database_url: str, httpbin: FakeHttpbin) -> None:
    # Some APIs take a bare key in the query (``?<key>``); httpbin echoes it as the name of an argument.
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", API_KEY))
        await h.load(http_story(url=f"{BIN}/anything?{{% credential vt %}}", method="get"))
        [*_, event] = await run(h)
        assert httpbin.calls[0].query == API_KEY
        assert event["output"]["body"]["args"] == {"[credential:vt]": ""}
        assert API_KEY not in _recorded(h)


async def test_a_redirect_from_https_to_plain_http_does_not_carry_a_credential_even_to_its_allowed_host(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    # The host is allowed, but on http:// anyone on the network between reads the key.
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", API_KEY, allowed_hosts=["api.example.com"]))
        downgrade = quote("http://api.example.com/anything/clear", safe="")
        await h.load(http_story(url=f"https://api.example.com/redirect-to?url={downgrade}", method="get",
                                headers={"x-apikey": "{% credential vt %}"}))
        await run(h)
        assert [call.path for call in httpbin.calls] == ["/redirect-to"]
        [job] = [job for job in h.jobs() if job["status"] == "failed"]
        assert job["attempts"] == 1
        assert "credential 'vt'" in job["error"] and "plain http" in job["error"]

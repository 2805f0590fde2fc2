"""The SSRF guard against real local servers: what is refused, what the operator can allow.

The fakes listen on 127.0.0.1, which is exactly what the guard refuses; stories reach
them through overrides (allowed: the operator configured them) or, here, by naming
the address itself (refused unless ``STORYLINE_EGRESS_ALLOW`` lists it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from storyline.egress.client import Egress
from storyline.egress.errors import EgressRefused, ResponseTooLarge
from storyline.egress.guard import AllowList, Guard, Refused
from storyline.egress.wire import Wire
from storyline.store.queries import list_logs
from tests.builders import HTTP, WEBHOOK, agent, story
from tests.fakes.httpbin import FakeHttpbin
from tests.harness import Harness

BIN = "https://httpbin.example"


@pytest.fixture
async def egress(bin_server: FakeHttpbin) -> AsyncIterator[Egress]:
    async with Egress({"httpbin.example": bin_server.url}, timeout=5) as client:
        yield client


def port(server: FakeHttpbin) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def test_loopback_address_not_in_overrides_is_refused(httpbin: FakeHttpbin, egress: Egress) -> None:
    with pytest.raises(EgressRefused) as info:
        await egress.request("GET", f"http://127.0.0.1:{port(httpbin)}/anything?token=t0p-secret")
    assert str(info.value) == (
        "GET to 127.0.0.1 refused: 127.0.0.1 is a loopback address (set STORYLINE_EGRESS_ALLOW to permit)"
    )
    assert not info.value.retryable and info.value.host == "127.0.0.1"
    assert httpbin.calls == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]", "0.0.0.0"])
async def test_other_spellings_of_local_addresses_are_refused(
    httpbin: FakeHttpbin, egress: Egress, host: str
) -> None:
    with pytest.raises(EgressRefused, match="set STORYLINE_EGRESS_ALLOW to permit"):
        await egress.request("GET", f"http://{host}:{port(httpbin)}/anything")
    assert httpbin.calls == []


async def test_a_name_that_resolves_to_a_local_address_is_refused(httpbin: FakeHttpbin, egress: Egress) -> None:
    with pytest.raises(EgressRefused, match=r"localhost resolves to (127\.0\.0\.1|::1), a loopback address") as info:
        await egress.request("GET", f"http://localhost:{port(httpbin)}/anything")
    assert not info.value.retryable
    assert httpbin.calls == []


async def test_metadata_is_refused_by_address_and_by_name(egress: Egress) -> None:
    with pytest.raises(EgressRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await egress.request("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    with pytest.raises(EgressRefused, match=r"metadata\.google\.internal is a cloud metadata host"):
        await egress.request("GET", "http://metadata.google.internal/computeMetadata/v1/")


async def test_a_redirect_to_metadata_is_refused(httpbin: FakeHttpbin, egress: Egress) -> None:
    with pytest.raises(EgressRefused) as info:
        await egress.request("GET", f"{BIN}/redirect-to?url=http://169.254.169.254/latest/meta-data/")
    assert "refused after a redirect: 169.254.169.254 is a cloud metadata address" in str(info.value)
    assert [call.path for call in httpbin.calls] == ["/redirect-to"]  # the first hop went out, not the second
    # A redirect to a name that resolves locally is caught when its connection opens.
    with pytest.raises(EgressRefused, match="after a redirect: localhost resolves to"):
        await egress.request("GET", f"{BIN}/redirect-to?url=http://localhost:{port(httpbin)}/anything")


async def test_the_fake_behind_an_override_cannot_be_named_directly(httpbin: FakeHttpbin, egress: Egress) -> None:
    # A pooled keep-alive connection to the override's target exists after this...
    assert (await egress.request("GET", f"{BIN}/anything")).status == 200
    # ...and naming the target's address does not get to reuse it.
    with pytest.raises(EgressRefused):
        await egress.request("GET", f"{httpbin.url}/anything")
    assert len(httpbin.calls) == 1


async def test_the_allow_list_permits_addresses_names_and_networks(httpbin: FakeHttpbin) -> None:
    for allow, host in [(["127.0.0.1"], "127.0.0.1"), (["localhost"], "localhost"), (["127.0.0.0/8"], "127.1")]:
        async with Egress(allow=allow) as egress:
            response = await egress.request("GET", f"http://{host}:{port(httpbin)}/anything")
            assert response.status == 200
            # Only what was listed: other local destinations stay refused.
            with pytest.raises(EgressRefused):
                await egress.request("GET", "http://169.254.169.254/")
    async with Egress(allow=["*"]) as everything:
        assert (await everything.request("GET", f"http://[::ffff:127.0.0.1]:{port(httpbin)}/anything")).status == 200


async def test_the_checked_address_is_the_one_connected_to(httpbin: FakeHttpbin) -> None:
    """Resolve once, check, connect to that address: a second, different DNS answer is never asked for."""
    answers: list[list[str]] = [["127.0.0.1"], ["10.9.9.9"]]
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    guard = Guard(AllowList(["127.0.0.1/32"]), resolver=rebinding)
    transport = Wire(ssl_context=httpx.create_ssl_context(), connect=guard.addresses)
    async with httpx.AsyncClient(transport=transport) as client:
        # rebind.test does not exist in DNS: reaching the fake proves the resolver's answer was used.
        url = f"http://rebind.test:{port(httpbin)}/anything"
        response = await client.get(url, headers={"Connection": "close"})
        assert response.status_code == 200 and httpbin.calls[-1].headers["host"] == f"rebind.test:{port(httpbin)}"
        assert asked == ["rebind.test"]
        # The next connection resolves again, and its new answer is checked again.
        with pytest.raises(Refused, match=r"rebind\.test resolves to 10\.9\.9\.9, a private address"):
            await client.get(url)
        assert asked == ["rebind.test", "rebind.test"] and len(httpbin.calls) == 1


async def test_response_bodies_are_capped_while_streaming(httpbin: FakeHttpbin, bin_server: FakeHttpbin) -> None:
    async with Egress({"httpbin.example": bin_server.url}, max_response_bytes=64 * 1024) as egress:
        with pytest.raises(ResponseTooLarge, match="exceeded 65536 bytes"):
            await egress.request("GET", f"{BIN}/stream-bytes/{50 * 1024 * 1024}")
        # The server was stopped early: the pool is fine and the next request works.
        assert (await egress.request("GET", f"{BIN}/text")).text == "plain words"


# -- through the worker: the refusal is the action's recorded failure ----------------------


def fetch_story(url: str) -> dict[str, Any]:
    agents = [agent(WEBHOOK, "Receive", path="in", secret="s"), agent(HTTP, "Fetch", method="get", url=url)]
    return story("Guarded", agents, [(0, 1)])


def failures(h: Harness) -> tuple[list[dict[str, Any]], list[str]]:
    with h.engine.connect() as conn:
        logs = [row["message"] for row in list_logs(conn, story="Guarded") if row["action"] == "Fetch"]
    return [job for job in h.jobs() if job["status"] == "failed"], logs


async def test_a_refused_request_fails_the_action_once_with_the_reason(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with Harness(database_url) as h:
        await h.load(fetch_story(f"http://127.0.0.1:{port(httpbin)}/anything"))
        await h.ingest("Receive", {})
        await h.drain()
        failed, logs = failures(h)
        reason = "127.0.0.1 is a loopback address (set STORYLINE_EGRESS_ALLOW to permit)"
        assert len(failed) == 1 and failed[0]["attempts"] == 1 and reason in failed[0]["error"]
        assert logs == [f"failed after 1 attempt(s): GET to 127.0.0.1 refused: {reason}"]
        assert h.events(action="Fetch") == [] and httpbin.calls == []


async def test_an_allowed_address_runs_the_action(database_url: str, httpbin: FakeHttpbin) -> None:
    async with Harness(database_url, egress_allow=("127.0.0.1",)) as h:
        await h.load(fetch_story(f"http://127.0.0.1:{port(httpbin)}/anything?x=1"))
        await h.ingest("Receive", {})
        await h.drain()
        [event] = h.events(action="Fetch")
        assert event["output"]["status"] == 200 and event["output"]["body"]["args"] == {"x": "1"}


async def test_a_redirect_to_metadata_fails_the_action(
    database_url: str, httpbin: FakeHttpbin, bin_server: FakeHttpbin
) -> None:
    async with Harness(database_url, egress_overrides={"httpbin.example": bin_server.url}) as h:
        await h.load(fetch_story(f"{BIN}/redirect-to?url=http://169.254.169.254/latest/meta-data/"))
        await h.ingest("Receive", {})
        await h.drain()
        failed, logs = failures(h)
        assert len(failed) == 1 and failed[0]["attempts"] == 1
        assert "after a redirect: 169.254.169.254 is a cloud metadata address" in logs[0]


async def test_an_oversized_response_fails_the_action(
    database_url: str, httpbin: FakeHttpbin, bin_server: FakeHttpbin
) -> None:
    settings = {"egress_overrides": {"httpbin.example": bin_server.url}, "max_response_bytes": 1000}
    async with Harness(database_url, **settings) as h:
        await h.load(fetch_story(f"{BIN}/stream-bytes/5000"))
        await h.ingest("Receive", {})
        await h.drain()
        failed, logs = failures(h)
        assert len(failed) == 1 and failed[0]["attempts"] == 1
        assert "over the limit of 1000 bytes (max_response_bytes)" in logs[0]

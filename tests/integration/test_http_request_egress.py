"""The egress layer under the HTTP Request action, against a real local server.

Covers what the action relies on: overrides on every hop, the Host header, pooled
keep-alive connections, the response-size cap and the error types.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from urllib.parse import quote

import orjson
import pytest

from storyline.credentials import model as creds
from storyline.egress.carried import Carried
from storyline.egress.client import Egress
from storyline.egress.errors import (
    EgressConnectionError,
    EgressError,
    EgressRefused,
    EgressTimeout,
    ResponseTooLarge,
)
from tests.fakes.httpbin import FakeHttpbin
from tests.fakes.slack import FakeSlack

BIN = "https://httpbin.example"
SECRET = "vt-api-key-0123456789"


@pytest.fixture
async def egress(bin_server: FakeHttpbin, slack_server: FakeSlack) -> AsyncIterator[Egress]:
    overrides = {
        "httpbin.example": bin_server.url,
        "other.example": bin_server.url,
        "prefixed.example": f"{bin_server.url}/anything/base",
        "slack.com": slack_server.url,
    }
    async with Egress(overrides, timeout=5) as client:
        yield client


async def test_override_keeps_path_and_query_and_sets_host(httpbin: FakeHttpbin, egress: Egress) -> None:
    response = await egress.request("GET", f"{BIN}/anything/a/b?x=1&y=two%20words")
    assert response.status == 200
    assert response.json["path"] == "/anything/a/b"
    assert response.json["args"] == {"x": "1", "y": "two words"}
    assert httpbin.calls[-1].headers["host"] == httpbin.netloc
    # The story's URL is reported, not the fake's.
    assert response.url == f"{BIN}/anything/a/b?x=1&y=two%20words"


async def test_override_base_path_is_prepended(httpbin: FakeHttpbin, egress: Egress) -> None:
    response = await egress.request("POST", "https://prefixed.example/api/v1?q=1", content=b"hi")
    assert response.json["path"] == "/anything/base/api/v1"
    assert response.json["args"] == {"q": "1"} and response.json["data"] == "hi"


async def test_params_are_merged_into_the_url_query(egress: Egress) -> None:
    response = await egress.request("GET", f"{BIN}/anything?a=1&b=2", params={"b": "3", "c": ["4", "5"]})
    assert response.json["multi_args"] == {"a": ["1"], "b": ["3"], "c": ["4", "5"]}


async def test_redirects_reapply_overrides(
    httpbin: FakeHttpbin, slack_server: FakeSlack, egress: Egress
) -> None:
    # An absolute redirect to another overridden host lands on that host's fake.
    response = await egress.request(
        "GET",
        f"{BIN}/redirect-to?url=https://slack.com/api/users.lookupByEmail%3Femail%3Dx%40y.z",
    )
    assert response.status == 200 and response.json == {"ok": False, "error": "not_authed"}
    assert response.url.startswith("https://slack.com/api/users.lookupByEmail?email=x")
    assert slack_server.calls[-1].path == "/api/users.lookupByEmail"
    slack_server.reset()
    # A relative redirect resolves against the story's URL and is overridden again.
    response = await egress.request("GET", f"{BIN}/redirect-to?url=/anything/next")
    assert response.json["path"] == "/anything/next" and response.url == f"{BIN}/anything/next"


async def test_redirect_origin_is_judged_on_the_story_urls(httpbin: FakeHttpbin, egress: Egress) -> None:
    headers = {"Authorization": "Bearer t0ken"}
    same = await egress.request("GET", f"{BIN}/redirect-to?url={BIN}/anything/same", headers=headers)
    assert same.json["headers"]["authorization"] == "Bearer t0ken"
    other = await egress.request(
        "GET", f"{BIN}/redirect-to?url=https://other.example/anything/other", headers=headers
    )
    assert other.json["path"] == "/anything/other"
    assert "authorization" not in other.json["headers"]


async def test_redirects_can_be_left_unfollowed(egress: Egress) -> None:
    response = await egress.request(
        "GET", f"{BIN}/redirect-to?url=/x&status_code=301", follow_redirects=False
    )
    assert response.status == 301 and response.headers["location"] == "/x"


async def test_too_many_redirects_is_not_retryable(egress: Egress) -> None:
    with pytest.raises(EgressError) as info:
        await egress.request("GET", f"{BIN}/redirect-loop")
    assert not info.value.retryable and info.value.host == "httpbin.example"


async def test_connections_are_pooled_and_kept_alive(httpbin: FakeHttpbin, egress: Egress) -> None:
    for _ in range(5):
        await egress.request("GET", f"{BIN}/anything")
    assert len({call.client for call in httpbin.calls}) == 1
    # Unverified TLS needs its own client; it is built once and pooled too.
    httpbin.reset()
    for _ in range(3):
        await egress.request("GET", f"{BIN}/anything", verify=False)
    assert len({call.client for call in httpbin.calls}) == 1


async def test_many_concurrent_requests(httpbin: FakeHttpbin, egress: Egress) -> None:
    responses = await asyncio.gather(
        *(egress.request("GET", f"{BIN}/anything", params={"i": str(i)}) for i in range(200))
    )
    assert sorted(int(r.json["args"]["i"]) for r in responses) == list(range(200))


async def test_pool_slots_are_released_on_every_path(httpbin: FakeHttpbin, bin_server: FakeHttpbin) -> None:
    # A connection slot leaked on some path would, in time, leave every request waiting for one.
    # A generous timeout for the 100 at once (a busy machine is slow to take them), a short one for the hang.
    async with Egress({"httpbin.example": bin_server.url}, max_response_bytes=1000, timeout=30) as egress:
        await asyncio.gather(*(egress.request("GET", f"{BIN}/anything") for _ in range(100)))
        await egress.request("GET", f"{BIN}/redirect-to?url=/anything")
        with pytest.raises(ResponseTooLarge):
            await egress.request("GET", f"{BIN}/stream-bytes/5000")
        with pytest.raises(EgressRefused):  # before the transport: an address literal
            await egress.request("GET", f"{BIN}/redirect-to?url=http://10.0.0.1/")
        with pytest.raises(EgressRefused):  # inside it: the connection is refused after DNS
            await egress.request("GET", f"{BIN}/redirect-to?url=http://localhost:1/")
        with pytest.raises(EgressRefused):  # a redirect where a credential may not go
            await egress.request("GET", f"{BIN}/redirect-to?url=https://other.example/",
                                 carrying=carrying(creds.text("vt", SECRET, allowed_hosts=["httpbin.example"])))
        httpbin.hang(2)
        with pytest.raises(EgressTimeout):
            await egress.request("GET", f"{BIN}/anything", timeout=0.2)
        transport = egress._client._transport  # white-box: the pool bookkeeping
        assert transport.in_flight == 0


async def test_headers_are_lower_cased(egress: Egress) -> None:
    response = await egress.request("GET", f"{BIN}/status/200?retry_after=3")
    assert response.headers["retry-after"] == "3"
    assert all(name == name.lower() for name in response.headers)


async def test_default_user_agent_and_caller_headers(egress: Egress) -> None:
    response = await egress.request("GET", f"{BIN}/anything")
    assert response.json["headers"]["user-agent"].startswith("storyline/")
    response = await egress.request("GET", f"{BIN}/anything", headers={"User-Agent": "custom"})
    assert response.json["headers"]["user-agent"] == "custom"


async def test_response_cap_by_length_and_by_stream(bin_server: FakeHttpbin) -> None:
    async with Egress({"httpbin.example": bin_server.url}, max_response_bytes=100_000) as egress:
        assert len((await egress.request("GET", f"{BIN}/bytes/100000")).body) == 100_000
        assert len((await egress.request("GET", f"{BIN}/stream-bytes/100000")).body) == 100_000
        for path in ("/bytes/100001", "/stream-bytes/1000000"):
            with pytest.raises(ResponseTooLarge, match="100000 bytes") as info:
                await egress.request("GET", f"{BIN}{path}")
            assert not info.value.retryable
        # The pool survives a refused body.
        assert (await egress.request("GET", f"{BIN}/text")).text == "plain words"


async def test_timeouts_default_and_per_request(httpbin: FakeHttpbin, bin_server: FakeHttpbin) -> None:
    async with Egress({"httpbin.example": bin_server.url}, timeout=0.2) as egress:
        httpbin.hang(5)
        with pytest.raises(EgressTimeout, match=r"httpbin\.example .*timed out after 0\.2s") as info:
            await egress.request("GET", f"{BIN}/anything?apikey=secret")
        assert info.value.retryable and "secret" not in str(info.value)
        httpbin.hang(0.5)
        response = await egress.request("GET", f"{BIN}/anything", timeout=3)
        assert response.status == 504  # the hang's answer, once it ends


async def test_connection_refused_is_retryable(egress: Egress) -> None:
    async with Egress({"down.example": "http://127.0.0.1:9"}) as down:
        with pytest.raises(EgressConnectionError, match=r"down\.example") as info:
            await down.request("GET", "https://down.example/x?token=abc")
    assert info.value.retryable and info.value.host == "down.example" and "abc" not in str(info.value)


async def test_unusable_urls_are_not_retryable(egress: Egress) -> None:
    for url in ("ftp://example.com/file", "example.com/no-scheme"):
        with pytest.raises(EgressError) as info:
            await egress.request("GET", url)
        assert not info.value.retryable


# -- credentials on redirects --------------------------------------------------------------


def redirect(to: str, status: int = 302) -> str:
    """An httpbin URL that redirects to ``to`` (another origin when it names other.example)."""
    return f"{BIN}/redirect-to?status_code={status}&url={quote(to, safe='')}"


def carrying(*credentials: creds.Credential) -> list[Carried]:
    return [Carried(c.name, c.secret["value"], c.allowed_hosts, c.allows) for c in credentials]


async def test_a_redirect_to_another_origin_drops_every_header_query_and_body_value_with_a_credential(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    basic = base64.b64encode(f"svc:{SECRET}".encode()).decode()
    body = {"token": SECRET, "keep": 1, "nested": {"key": f"Bearer {SECRET}", "x": "y"}, "list": [SECRET, "z"]}
    response = await egress.request(
        # The upstream even echoes the key into the redirect's query.
        "POST", redirect(f"https://other.example/anything/hop?key={SECRET}&keep=1", status=307),
        headers={"X-Key": SECRET, "X-Auth": f"Basic {basic}", "X-Other": "kept",
                 "Content-Type": "application/json"},
        content=orjson.dumps(body), carrying=carrying(creds.text("vt", SECRET)),
    )
    first, hop = httpbin.calls
    assert first.headers["x-key"] == SECRET and first.json() == body
    assert hop.path == "/anything/hop" and response.url.startswith("https://other.example/anything/hop")
    assert "x-key" not in hop.headers and "x-auth" not in hop.headers and hop.headers["x-other"] == "kept"
    assert hop.params == {"keep": "1"}
    assert hop.json() == {"keep": 1, "nested": {"x": "y"}, "list": ["z"]}
    assert SECRET not in str(hop)

    httpbin.reset()
    await egress.request("POST", redirect("https://other.example/anything/form", status=308),
                         data={"password": SECRET, "user": "svc"}, carrying=carrying(creds.text("vt", SECRET)))
    assert [call.form() for call in httpbin.calls] == [{"password": SECRET, "user": "svc"}, {"user": "svc"}]


async def test_a_redirect_within_the_origin_keeps_the_credential(httpbin: FakeHttpbin, egress: Egress) -> None:
    response = await egress.request("GET", redirect(f"{BIN}/anything/same"), headers={"X-Key": SECRET},
                                    carrying=carrying(creds.text("vt", SECRET)))
    assert response.json["headers"]["x-key"] == SECRET


async def test_a_credential_is_refused_on_any_hop_to_a_host_it_is_not_allowed_on(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    vt = creds.text("vt", SECRET, allowed_hosts=["httpbin.example"])
    with pytest.raises(EgressRefused) as info:
        await egress.request("GET", redirect("https://other.example/anything/leak"), headers={"X-Key": SECRET},
                             carrying=carrying(vt))
    assert not info.value.retryable
    assert "credential 'vt' may only be sent to httpbin.example, not to 'other.example'" in str(info.value)
    assert "redirect was not followed" in str(info.value)
    assert [call.path for call in httpbin.calls] == ["/redirect-to"]
    # Also where httpx itself would drop it (basic_auth's Authorization): the host is not allowed.
    with pytest.raises(EgressRefused, match=r"credential 'vt' may only be sent to httpbin\.example"):
        await egress.request("GET", redirect("https://other.example/anything/leak"),
                             headers={"Authorization": "Basic " + base64.b64encode(f"u:{SECRET}".encode()).decode()},
                             carrying=carrying(vt))
    # And on the first hop nothing is sent at all.
    httpbin.reset()
    with pytest.raises(EgressRefused, match=r"not to 'other\.example'; nothing was sent"):
        await egress.request("GET", "https://other.example/anything", headers={"X-Key": SECRET},
                             carrying=carrying(vt))
    assert httpbin.calls == []


async def test_a_body_that_cannot_lose_a_field_is_not_sent_again_to_another_origin(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    with pytest.raises(EgressRefused, match="would send the request body again, which carries credential 'vt'"):
        await egress.request("POST", redirect("https://other.example/anything/leak", status=307),
                             content=f"<key>{SECRET}</key>", headers={"Content-Type": "text/xml"},
                             carrying=carrying(creds.text("vt", SECRET)))
    assert [call.path for call in httpbin.calls] == ["/redirect-to"]


# -- requests that cannot be sent ------------------------------------------------------------


@pytest.mark.parametrize(("value", "flaw"), [
    ("k3y\\with-backslash\n", "a line break"),
    ("k3y\x00", "a control character"),
    ("k3y-é", "non-ASCII text"),
    ("k3y ", "a space or tab at its start or end"),
])
async def test_a_header_value_http_cannot_carry_fails_at_once_naming_only_the_header(
    httpbin: FakeHttpbin, egress: Egress, value: str, flaw: str
) -> None:
    with pytest.raises(EgressError) as info:
        await egress.request("GET", f"{BIN}/anything", headers={"X-Key": value})
    assert not info.value.retryable
    assert str(info.value).startswith("GET to httpbin.example (overridden to ")
    assert f"not sent: header 'X-Key' has {flaw} in its value, which an HTTP header cannot carry" in str(info.value)
    assert "k3y" not in str(info.value)
    assert httpbin.calls == []


async def test_an_invalid_idna_host_fails_at_once_with_a_plain_message(httpbin: FakeHttpbin, egress: Egress) -> None:
    with pytest.raises(EgressError) as info:
        await egress.request("GET", "http://xn--echo.test/")
    assert not info.value.retryable and info.value.host == "xn--echo.test"
    assert str(info.value) == ("GET to xn--echo.test not sent: the URL's host 'xn--echo.test' is not a valid "
                               "internationalised domain name (IDNA); check the URL")
    with pytest.raises(EgressError) as info:
        await egress.request("GET", redirect("http://xn--echo.test/"))
    assert not info.value.retryable
    assert str(info.value).endswith(") failed: it redirected to a host that is not a valid internationalised "
                                    "domain name (IDNA)")


async def test_a_cookie_one_upstream_sets_is_not_sent_on_later_requests(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    # One client serves every story, so a kept cookie would cross from one story's session to another's.
    await egress.request("GET", f"{BIN}/cookies/set?session=story-a-session")
    response = await egress.request("GET", f"{BIN}/anything")
    assert "cookie" not in response.json["headers"]


async def test_integers_wider_than_64_bits_in_a_json_response_are_read_exactly(egress: Egress) -> None:
    wide = 123456789012345678901234567890
    response = await egress.request("POST", f"{BIN}/anything", json={"id": wide})
    assert response.json["json"] == {"id": wide}

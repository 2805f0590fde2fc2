"""The HTTP Request action end to end against local fakes, reached through egress overrides.

Stories keep their real URLs (https://www.virustotal.com/..., https://slack.com/...);
``Egress`` overrides send them to the fakes, exactly as ``STORYLINE_EGRESS_OVERRIDES``
does in a demo. Nothing under test is patched.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Mapping
from email.utils import formatdate
from typing import Any

import pytest

from storyline.actions import http_request
from storyline.actions.base import ActionError, Result, RunContext
from storyline.egress.client import Egress
from tests.fakes.httpbin import FakeHttpbin
from tests.fakes.slack import FakeSlack
from tests.fakes.virustotal import FakeVirusTotal
from tests.support import run_context

VT = "https://www.virustotal.com"
BIN = "https://httpbin.example"


@pytest.fixture
async def egress(
    vt_server: FakeVirusTotal, slack_server: FakeSlack, bin_server: FakeHttpbin
) -> AsyncIterator[Egress]:
    overrides = {
        "www.virustotal.com": vt_server.url,
        "slack.com": slack_server.url,
        "hooks.slack.com": slack_server.url,
        "httpbin.example": bin_server.url,
        "down.example": "http://127.0.0.1:9",  # discard port: nothing listens
    }
    async with Egress(overrides, timeout=5) as client:
        yield client


def context(options: Mapping[str, Any], egress: Egress | None, *, attempt: int = 1) -> RunContext:
    return run_context(http_request.TYPE, options, name="Call API", now=time.time(), attempt=attempt, egress=egress)


async def run(options: Mapping[str, Any], egress: Egress | None, **kwargs: Any) -> Result:
    assert http_request.validate(options) == []
    return await http_request.run(context(options, egress, **kwargs))


async def run_one(options: Mapping[str, Any], egress: Egress) -> dict[str, Any]:
    result = await run(options, egress)
    assert len(result.events) == 1
    return result.events[0]


# -- requests -----------------------------------------------------------------------


async def test_get_payload_becomes_query_merged_with_url_query(vt: FakeVirusTotal, egress: Egress) -> None:
    out = await run_one(
        {
            # As in the chatbot story: the URL already carries an empty ?domain=.
            "url": f"{VT}/vtapi/v2/domain/report?domain=&keep=1",
            "method": "get",
            "payload": {"apikey": "vt-key", "domain": "evil.example"},
        },
        egress,
    )
    assert out["status"] == 200
    assert out["body"]["Forcepoint ThreatSeeker category"] == "phishing"
    assert out["headers"]["content-type"] == "application/json"
    (call,) = vt.calls
    assert call.method == "GET" and call.body == b""
    assert call.multi_params == {"domain": ["evil.example"], "keep": ["1"], "apikey": ["vt-key"]}
    assert call.headers["host"] == vt.netloc


async def test_get_payload_lists_repeat_and_scalars_are_stringified(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    out = await run_one(
        {
            "url": f"{BIN}/anything",
            "method": "GET",
            "payload": {"ids": [1, 2], "flag": True, "none": None, "obj": {"a": 1}},
        },
        egress,
    )
    assert out["body"]["multi_args"] == {
        "ids": ["1", "2"],
        "flag": ["true"],
        "none": [""],
        "obj": ['{"a":1}'],
    }


async def test_delete_and_head_send_payload_as_query(httpbin: FakeHttpbin, egress: Egress) -> None:
    out = await run_one({"url": f"{BIN}/anything/x", "method": "delete", "payload": {"id": "7"}}, egress)
    assert out["body"]["method"] == "DELETE" and out["body"]["args"] == {"id": "7"}
    out = await run_one({"url": f"{BIN}/anything/x", "method": "head", "payload": {"id": "7"}}, egress)
    assert out["status"] == 200 and out["body"] == ""
    assert httpbin.calls[-1].method == "HEAD" and httpbin.calls[-1].params == {"id": "7"}


async def test_post_json_to_slack_with_bearer_header(slack: FakeSlack, egress: Egress) -> None:
    payload = {"channel": "C123", "text": "Domain evil.example is phishing", "blocks": [{"type": "divider"}]}
    out = await run_one(
        {
            "url": "https://slack.com/api/chat.postMessage",
            "method": "post",
            "content_type": "json",
            "payload": payload,
            "headers": {"Authorization": "Bearer xoxb-good"},
        },
        egress,
    )
    assert out["status"] == 200
    assert out["body"]["ok"] is True and out["body"]["ts"]
    (call,) = slack.calls
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.json() == payload
    assert slack.messages[0]["text"] == payload["text"]


async def test_method_defaults_to_post_and_content_type_to_json(httpbin: FakeHttpbin, egress: Egress) -> None:
    out = await run_one({"url": f"{BIN}/anything", "payload": {"a": [1, {"b": None}]}}, egress)
    assert out["body"]["method"] == "POST"
    assert out["body"]["json"] == {"a": [1, {"b": None}]}


async def test_integers_wider_than_64_bits_are_sent_and_read_back_exactly(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    wide = 123456789012345678901234567890
    sent = await run_one({"url": f"{BIN}/anything", "payload": {"id": wide}}, egress)
    assert sent["body"]["json"] == {"id": wide}
    queried = await run_one({"url": f"{BIN}/anything", "method": "get", "payload": {"ids": {"a": wide}}}, egress)
    assert queried["body"]["args"] == {"ids": f'{{"a":{wide}}}'}


async def test_slack_errors_are_ordinary_events(slack: FakeSlack, egress: Egress) -> None:
    out = await run_one(
        {
            "url": "https://slack.com/api/chat.postMessage",
            "method": "post",
            "payload": {"channel": "C1", "text": "hi"},
            "headers": {"Authorization": "Bearer wrong"},
        },
        egress,
    )
    assert out["status"] == 200 and out["body"] == {"ok": False, "error": "invalid_auth"}


async def test_users_lookup_by_email_get(slack: FakeSlack, egress: Egress) -> None:
    out = await run_one(
        {
            "url": "https://slack.com/api/users.lookupByEmail",
            "content_type": "json",
            "method": "get",
            "payload": {"email": "ana@example.com"},
            "headers": {"Authorization": "Bearer xoxb-good"},
        },
        egress,
    )
    assert out["body"]["user"]["id"] == "U0ANA"


async def test_post_form(httpbin: FakeHttpbin, egress: Egress) -> None:
    out = await run_one(
        {
            "url": f"{BIN}/anything/token",
            "method": "post",
            "content_type": "form",
            "payload": {"grant_type": "client_credentials", "scope": ["a", "b"], "n": 3},
        },
        egress,
    )
    assert out["body"]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert httpbin.calls[-1].text == "grant_type=client_credentials&scope=a&scope=b&n=3"


async def test_legacy_content_type_key_and_mime_types(httpbin: FakeHttpbin, egress: Egress) -> None:
    out = await run_one(
        {"url": f"{BIN}/anything", "method": "post", "content-type": "form", "payload": {"a": "1"}}, egress
    )
    assert out["body"]["form"] == {"a": "1"}
    out = await run_one(
        {"url": f"{BIN}/anything", "method": "put", "content_type": "application_json", "payload": {"a": 1}},
        egress,
    )
    assert out["body"]["json"] == {"a": 1}
    out = await run_one(
        {
            "url": f"{BIN}/anything",
            "method": "patch",
            "content_type": "application/vnd.api+json",
            "payload": {"a": 1},
        },
        egress,
    )
    assert out["body"]["headers"]["content-type"] == "application/vnd.api+json"
    assert out["body"]["json"] == {"a": 1}


async def test_xml_and_text_payloads_are_sent_as_written(httpbin: FakeHttpbin, egress: Egress) -> None:
    xml = "<Tagging><TagSet/></Tagging>"
    out = await run_one(
        {"url": f"{BIN}/anything", "method": "put", "content_type": "application/xml", "payload": xml}, egress
    )
    assert out["body"]["data"] == xml and out["body"]["headers"]["content-type"] == "application/xml"
    out = await run_one(
        {"url": f"{BIN}/anything", "method": "put", "content_type": "xml", "payload": xml}, egress
    )
    assert out["body"]["headers"]["content-type"] == "text/xml; charset=utf-8"
    out = await run_one({"url": f"{BIN}/anything", "content_type": "text", "payload": "hello"}, egress)
    assert out["body"]["data"] == "hello"


async def test_xml_needs_a_string_payload(egress: Egress) -> None:
    with pytest.raises(ActionError, match="payload") as info:
        await run({"url": f"{BIN}/anything", "content_type": "xml", "payload": {"a": 1}}, egress)
    assert not info.value.retryable


async def test_data_sends_multipart_with_files(httpbin: FakeHttpbin, egress: Egress) -> None:
    await run_one(
        {
            "url": f"{VT}/vtapi/v2/file/scan".replace(VT, BIN),
            "method": "post",
            "content_type": "data",
            "payload": {"apikey": "k", "file": {"contents": "MZ\x90binary", "filename": "a.exe"}},
        },
        egress,
    )
    call = httpbin.calls[-1]
    assert call.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="apikey"\r\n\r\nk\r\n' in call.body
    assert b'name="file"; filename="a.exe"' in call.body
    assert "MZ\x90binary".encode() in call.body


async def test_basic_auth_string_and_list(httpbin: FakeHttpbin, egress: Egress) -> None:
    for auth in ("svc:p@ss:word", ["svc", "p@ss:word"]):
        out = await run_one(
            {
                "url": f"{BIN}/anything",
                "method": "get",
                "basic_auth": auth,
                "headers": {"Authorization": "x"},
            },
            egress,
        )
        scheme, token = out["body"]["headers"]["authorization"].split(" ")
        assert scheme == "Basic" and base64.b64decode(token) == b"svc:p@ss:word"


async def test_headers_and_user_agent(httpbin: FakeHttpbin, egress: Egress) -> None:
    out = await run_one(
        {
            "url": f"{BIN}/anything",
            "method": "get",
            "headers": {"X-Trace": "abc", "X-Count": 3, "X-Skip": None},
            "user_agent": "Tines - Advanced Security Automation. https://tines.io",
        },
        egress,
    )
    headers = out["body"]["headers"]
    assert headers["x-trace"] == "abc" and headers["x-count"] == "3" and "x-skip" not in headers
    assert headers["user-agent"] == "Tines - Advanced Security Automation. https://tines.io"
    out = await run_one(
        {"url": f"{BIN}/anything", "method": "get", "headers": '{"X-From-Json": "1"}'}, egress
    )
    assert out["body"]["headers"]["x-from-json"] == "1"
    assert out["body"]["headers"]["user-agent"].startswith("storyline/")


async def test_v3_api_key_header_and_401_is_emitted(vt: FakeVirusTotal, egress: Egress) -> None:
    url = f"{VT}/api/v3/domains/evil.example"
    out = await run_one({"url": url, "method": "get", "headers": {"x-apikey": "vt-key"}}, egress)
    assert out["body"]["data"]["attributes"]["categories"]["Forcepoint ThreatSeeker"] == "phishing"
    out = await run_one({"url": url, "method": "get"}, egress)
    assert out["status"] == 401 and out["body"]["error"]["code"] == "AuthenticationRequiredError"


# -- response bodies ----------------------------------------------------------------


async def test_body_is_text_unless_json(httpbin: FakeHttpbin, egress: Egress) -> None:
    assert (await run_one({"url": f"{BIN}/text", "method": "get"}, egress))["body"] == "plain words"
    assert (await run_one({"url": f"{BIN}/html", "method": "get"}, egress))["body"] == "<p>hi</p>"
    out = await run_one({"url": f"{BIN}/json-unlabelled", "method": "get"}, egress)
    assert out["body"] == {"unlabelled": True}
    out = await run_one({"url": f"{BIN}/status/204", "method": "get"}, egress)
    assert out == {"body": "", "headers": out["headers"], "status": 204}


# -- statuses -----------------------------------------------------------------------


async def test_429_is_retried_after_retry_after_seconds(vt: FakeVirusTotal, egress: Egress) -> None:
    vt.throttle(times=1, retry_after=7)
    options = {
        "url": f"{VT}/vtapi/v2/domain/report",
        "method": "get",
        "payload": {"apikey": "vt-key", "domain": "a.io"},
    }
    with pytest.raises(ActionError) as info:
        await run(options, egress)
    assert info.value.retryable and info.value.retry_after == 7
    assert "429" in str(info.value) and "www.virustotal.com" in str(info.value)
    assert "vt-key" not in str(info.value)
    # The engine's next attempt gets through.
    out = await run_one(options, egress)
    assert out["status"] == 200
    assert [call.fault for call in vt.calls] == ["status 429", None]


async def test_429_retry_after_http_date(slack: FakeSlack, egress: Egress) -> None:
    slack.throttle(retry_after=formatdate(time.time() + 60, usegmt=True))
    with pytest.raises(ActionError) as info:
        await run(
            {"url": "https://slack.com/api/chat.postMessage", "payload": {"channel": "C", "text": "x"}},
            egress,
        )
    assert info.value.retryable and 55 <= info.value.retry_after <= 60


async def test_429_without_retry_after_leaves_backoff_to_the_engine(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    with pytest.raises(ActionError) as info:
        await run({"url": f"{BIN}/status/429", "method": "get"}, egress)
    assert info.value.retryable and info.value.retry_after is None


async def test_500_is_emitted_with_its_status(vt: FakeVirusTotal, egress: Egress) -> None:
    vt.fail(500, json={"error": "boom"})
    out = await run_one({"url": f"{VT}/vtapi/v2/domain/report", "method": "get"}, egress)
    assert out["status"] == 500 and out["body"] == {"error": "boom"}


async def test_retry_on_status(httpbin: FakeHttpbin, egress: Egress) -> None:
    for codes in (["503"], [503], "502,503", ["5xx"], ["50x"], ["500-599"]):
        with pytest.raises(ActionError) as info:
            await run({"url": f"{BIN}/status/503", "method": "get", "retry_on_status": codes}, egress)
        assert info.value.retryable, codes
    out = await run_one({"url": f"{BIN}/status/500", "method": "get", "retry_on_status": ["503"]}, egress)
    assert out["status"] == 500


async def test_fail_on_status(httpbin: FakeHttpbin, egress: Egress) -> None:
    with pytest.raises(ActionError) as info:
        await run({"url": f"{BIN}/status/404", "method": "get", "fail_on_status": "true"}, egress)
    assert not info.value.retryable
    assert "HTTP 404 from httpbin.example" in str(info.value)
    out = await run_one({"url": f"{BIN}/status/201", "method": "post", "fail_on_status": True}, egress)
    assert out["status"] == 201
    out = await run_one({"url": f"{BIN}/status/404", "method": "get", "fail_on_status": "false"}, egress)
    assert out["status"] == 404


async def test_log_error_on_status_logs_and_still_emits(httpbin: FakeHttpbin, egress: Egress) -> None:
    result = await run({"url": f"{BIN}/status/404", "method": "get", "log_error_on_status": ["404"]}, egress)
    assert result.events[0]["status"] == 404
    assert result.logs and result.logs[0].startswith("error: HTTP 404")
    result = await run({"url": f"{BIN}/status/404", "method": "get", "log_error_on_status": []}, egress)
    assert result.logs == []
    # As in a real export: ranges plus "0" (Tines' status for no response).
    codes = ["400-499", "500-599", "0"]
    result = await run({"url": f"{BIN}/status/404", "method": "get", "log_error_on_status": codes}, egress)
    assert len(result.logs) == 1
    result = await run({"url": f"{BIN}/status/302", "method": "get", "log_error_on_status": codes}, egress)
    assert result.logs == []


async def test_redirects_are_followed_unless_disabled(httpbin: FakeHttpbin, egress: Egress) -> None:
    url = f"{BIN}/redirect-to?url=/anything/landed"
    out = await run_one({"url": url, "method": "get"}, egress)
    assert out["status"] == 200 and out["body"]["path"] == "/anything/landed"
    out = await run_one({"url": url, "method": "get", "disable_redirect_follow": "true"}, egress)
    assert out["status"] == 302 and out["headers"]["location"] == "/anything/landed"


async def test_disable_ssl_verification_still_works_over_plain_http(
    httpbin: FakeHttpbin, egress: Egress
) -> None:
    out = await run_one(
        {"url": f"{BIN}/anything", "method": "get", "disable_ssl_verification": "true"}, egress
    )
    assert out["status"] == 200


# -- no answer ----------------------------------------------------------------------


async def test_timeout_is_retryable_and_names_the_host(vt: FakeVirusTotal, egress: Egress) -> None:
    vt.hang(seconds=5)
    started = time.monotonic()
    with pytest.raises(ActionError) as info:
        await run(
            {
                "url": f"{VT}/vtapi/v2/domain/report",
                "method": "get",
                "payload": {"apikey": "vt-key"},
                "timeout": "0.3",
            },
            egress,
        )
    assert time.monotonic() - started < 4.5  # the 0.3 s timeout, not the 5 s hang
    assert info.value.retryable
    message = str(info.value)
    assert "www.virustotal.com" in message and "timed out after 0.3s" in message and "vt-key" not in message


async def test_connection_refused_is_retryable_and_names_the_host(egress: Egress) -> None:
    with pytest.raises(ActionError) as info:
        await run({"url": "https://down.example/api", "method": "get"}, egress)
    assert info.value.retryable and "down.example" in str(info.value)


async def test_response_over_the_cap_fails(bin_server: FakeHttpbin) -> None:
    async with Egress({"httpbin.example": bin_server.url}, max_response_bytes=1000) as small:
        for path in ("/bytes/5000", "/stream-bytes/200000"):
            with pytest.raises(ActionError, match="max_response_bytes") as info:
                await run({"url": f"{BIN}{path}", "method": "get"}, small)
            assert not info.value.retryable
        out = await run_one({"url": f"{BIN}/bytes/1000", "method": "get"}, small)
        assert out["body"] == "x" * 1000


async def test_without_egress_the_action_fails_clearly() -> None:
    with pytest.raises(ActionError, match="egress"):
        await run({"url": f"{BIN}/anything"}, None)


async def test_rendered_options_are_checked_at_run_time(egress: Egress) -> None:
    for options, option in (
        ({"url": "  "}, "url"),
        ({"url": f"{BIN}/anything", "method": "fetch"}, "method"),
        ({"url": f"{BIN}/anything", "content_type": "yaml", "payload": {}}, "content_type"),
        ({"url": f"{BIN}/anything", "timeout": "soon"}, "timeout"),
    ):
        with pytest.raises(ActionError, match=f"^{option}:"):
            await http_request.run(context(options, egress))


# -- validation ---------------------------------------------------------------------


def test_validate_accepts_real_world_options() -> None:
    assert (
        http_request.validate(
            {
                "url": "https://{% global_resource splunk %}/services/search/jobs",
                "method": "{% if x %}get{% else %}post{% endif %}",
                "content_type": "{% if method == 'POST' %}form{% else %}json{% endif %}",
                "basic_auth": ["{% global_resource u %}", "{% credential p %}"],
                "timeout": "{{ .t }}",
                "retry_on_status": ["429", 503, "5xx"],
                "log_error_on_status": ["400-499", "500-599", "0"],
                "fail_on_status": "true",
            }
        )
        == []
    )
    assert (
        http_request.validate({"url": "https://a.io", "method": "PUT", "content_type": "application/xml"})
        == []
    )


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": "slack.com/api"}, "url"),
        ({"url": "https://a.io", "method": "fetch"}, "method"),
        ({"url": "https://a.io", "content_type": "yaml"}, "content_type"),
        ({"url": "https://a.io", "timeout": "soon"}, "timeout"),
        ({"url": "https://a.io", "timeout": 0}, "timeout"),
        ({"url": "https://a.io", "headers": ["a"]}, "headers"),
        ({"url": "https://a.io", "basic_auth": "nocolon"}, "basic_auth"),
        ({"url": "https://a.io", "retry_on_status": ["soon"]}, "retry_on_status"),
        ({"url": "https://a.io", "log_error_on_status": ["499-400"]}, "log_error_on_status"),
        ({"url": "https://a.io", "log_error_on_status": [700]}, "log_error_on_status"),
    ],
)
def test_validate_names_the_bad_option(options: dict[str, Any], option: str) -> None:
    problems = http_request.validate(options)
    assert len(problems) == 1 and problems[0].startswith(f"{option}:"), problems

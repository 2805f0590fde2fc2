"""Egress pieces that need no network: override parsing and rewriting, Retry-After, responses."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from storyline.egress.client import Egress
from storyline.egress.response import EgressResponse, retry_after_seconds
from storyline.hosts import parse_overrides


def test_parse_overrides_reads_the_env_format() -> None:
    raw = " slack.com=http://127.0.0.1:9001/ , Hooks.Slack.com=http://127.0.0.1:9002,api.x.io:8443=https://fake:1/p"
    assert parse_overrides(raw) == {
        "slack.com": "http://127.0.0.1:9001",
        "hooks.slack.com": "http://127.0.0.1:9002",
        "api.x.io:8443": "https://fake:1/p",
    }


def test_parse_overrides_empty_means_none() -> None:
    assert parse_overrides("") == {}
    assert parse_overrides(" , ") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "slack.com",
        "slack.com=",
        "=http://x",
        "slack.com=ftp://x",
        "slack.com=not a url",
        "a.com=http://x/?q=1",
    ],
)
def test_parse_overrides_rejects_bad_entries_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="egress override"):
        parse_overrides(raw)


async def test_resolve_keeps_path_and_query() -> None:
    async with Egress({"slack.com": "http://127.0.0.1:9001"}) as egress:
        assert (
            egress.resolve("https://slack.com/api/chat.postMessage?x=1&y=a%20b")
            == "http://127.0.0.1:9001/api/chat.postMessage?x=1&y=a%20b"
        )
        # Only the exact host: subdomains and other hosts go out unchanged.
        assert (
            egress.resolve("https://hooks.slack.com/services/T/B/X")
            == "https://hooks.slack.com/services/T/B/X"
        )
        assert egress.resolve("https://example.com/a") == "https://example.com/a"


async def test_resolve_prepends_a_base_path_and_matches_host_case_insensitively() -> None:
    async with Egress({"www.virustotal.com": "http://127.0.0.1:9003/vt/"}) as egress:
        assert (
            egress.resolve("https://WWW.VirusTotal.com/vtapi/v2/domain/report?domain=a.com")
            == "http://127.0.0.1:9003/vt/vtapi/v2/domain/report?domain=a.com"
        )


async def test_resolve_host_and_port_entries_win_over_host_entries() -> None:
    overrides = {"api.x.io": "http://127.0.0.1:1", "api.x.io:8443": "http://127.0.0.1:2"}
    async with Egress(overrides) as egress:
        assert egress.resolve("https://api.x.io:8443/a") == "http://127.0.0.1:2/a"
        assert egress.resolve("https://api.x.io/a") == "http://127.0.0.1:1/a"
    async with Egress({"api.x.io:443": "http://127.0.0.1:3"}) as egress:
        assert egress.resolve("https://api.x.io/a") == "http://127.0.0.1:3/a"  # default port counts
        assert egress.resolve("http://api.x.io/a") == "http://api.x.io/a"


def test_egress_rejects_bad_override_targets() -> None:
    with pytest.raises(ValueError, match=r"slack\.com"):
        Egress({"slack.com": "127.0.0.1:9001"})


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), (" 1.5 ", 1.5), ("-3", 0.0), ("", None), (None, None), ("soon", None), ("inf", None)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, now=1_000.0) == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds(formatdate(now + 120, usegmt=True), now) == pytest.approx(120)
    assert retry_after_seconds(formatdate(now - 120, usegmt=True), now) == 0.0


def test_response_json_and_text_are_lazy_and_tolerant() -> None:
    ok = EgressResponse(200, {"content-type": "application/json"}, b'{"a": 1}', "http://x/")
    assert ok.json == {"a": 1} and ok.is_json and ok.text == '{"a": 1}'
    bad = EgressResponse(200, {"content-type": "text/plain"}, b"not json", "http://x/")
    assert bad.json is None and not bad.is_json
    latin = EgressResponse(
        200, {"content-type": "text/plain; charset=ISO-8859-1"}, "café".encode("latin-1"), ""
    )
    assert latin.text == "café"
    weird = EgressResponse(200, {"content-type": "text/plain; charset=nope"}, b"\xff ok", "")
    assert weird.text.endswith(" ok")


def test_tines_tenant_hosts_route_to_this_server_and_an_explicit_override_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from storyline.config import Settings

    monkeypatch.setenv("STORYLINE_TINES_TENANT_HOSTS", " Acme.Tines.io , other.tines.io ")
    monkeypatch.setenv("STORYLINE_EGRESS_OVERRIDES", "other.tines.io=http://127.0.0.1:9")
    monkeypatch.setenv("STORYLINE_PUBLIC_URL", "https://storyline.example.com/")
    settings = Settings.from_env()
    assert settings.tines_tenant_hosts == ("acme.tines.io", "other.tines.io")
    assert settings.egress_routes == {"acme.tines.io": "https://storyline.example.com",
                                      "other.tines.io": "http://127.0.0.1:9"}


@pytest.mark.parametrize("bad", ["https://acme.tines.io", "*.tines.io", "acme.tines.io/api", "a b"])
def test_a_tenant_host_that_is_not_a_host_name_stops_the_process_naming_it(
    monkeypatch: pytest.MonkeyPatch, bad: str,
) -> None:
    from storyline.config import Settings

    monkeypatch.setenv("STORYLINE_TINES_TENANT_HOSTS", bad)
    with pytest.raises(SystemExit, match="STORYLINE_TINES_TENANT_HOSTS"):
        Settings.from_env()

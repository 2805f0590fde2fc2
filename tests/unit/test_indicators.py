"""Indicator extraction from chat text: what counts as a domain, an IP, a URL or a hash.

Each case is (text as an analyst types it, what is extracted). The public suffix list
comes from tldextract's bundled snapshot, so none of this touches the network.
"""

from __future__ import annotations

from typing import Any

import pytest

from storyline import indicators
from storyline.indicators import extract, extract_indicators, indicator_type, refang, registered_domain
from storyline.templating import StaticScope, TemplateError, render_value
from storyline.templating.check import supported_filters, supported_functions

REFANG = [
    ("hxxps://bad[.]example[.]org/x.php", "https://bad.example.org/x.php"),
    ("HXXPS://x[.]com", "https://x.com"),
    ("hxxp[:]//a[.]b/c", "http://a.b/c"),
    ("evil(dot)com", "evil.com"),
    ("evil[dot]com and evil{.}net", "evil.com and evil.net"),
    ("1.2.3[.]4", "1.2.3.4"),
    ("me[at]corp[.]com", "me@corp.com"),
    ("<http://evil-example.com|evil-example.com>", "evil-example.com"),
    ("<https://x.org/a?b=1&amp;c=2>", "https://x.org/a?b=1&c=2"),
    ('<a href="http://x.com">x.com</a>', " x.com "),
    ("hXXps[://]x[.]y and fxp://files[.]example[.]org", "https://x.y and ftp://files.example.org"),
    ("evil DOT com, evil\\.net, http[:]//x[.]com[/]a", "evil.com, evil.net, http://x.com/a"),
    # ordinary prose is left alone
    ("Hello. Meet at 5 (at the office), see (example.net) [attached]", "Hello. Meet at 5 (at the office), see (example.net) [attached]"),
]


@pytest.mark.parametrize(("text", "expected"), REFANG)
def test_refang(text: str, expected: str) -> None:
    assert refang(text) == expected


DOMAINS = [
    ("/analyzedomain example.com evil-example.com", ["example.com", "evil-example.com"]),
    ("Example.COM, example.com. EXAMPLE.com!", ["example.com"]),
    ("www.Sub.Bbc.co.uk", ["www.sub.bbc.co.uk"]),
    ("evil[.]com bad(dot)org", ["evil.com", "bad.org"]),
    # the host of a URL is a domain too; its path is not
    ("hxxps://bad[.]example[.]org/setup.py", ["bad.example.org"]),
    ("an address me@corp.com", ["corp.com"]),
    # not under a public suffix: reserved names, single labels, file names, versions
    ("evil.test localhost printer.local foo.invalid", []),
    ("report.pdf invoice.docx notes.txt v1.2.3 node.js e.g. i.e.", []),
    # real suffixes that are mostly file names, unless defanged or in a URL
    ("invoice.zip readme.md setup.py run.sh main.rs", []),
    ("invoice[.]zip and http://paypa1.zip/login", ["invoice.zip", "paypa1.zip"]),
    ("mail.setup.py", ["mail.setup.py"]),
    ("xn--80ak6aa92e.com пример.рф", ["xn--80ak6aa92e.com", "пример.рф"]),
    ("trailing dot example.org. and (example.net)", ["example.org", "example.net"]),
    ("no indicator at all", []),
]


@pytest.mark.parametrize(("text", "expected"), DOMAINS)
def test_domains(text: str, expected: list[str]) -> None:
    assert extract("domains", text) == expected


IPS = [
    ("8.8.8.8, 8.8.8.8. 1.1.1.1", ["8.8.8.8", "1.1.1.1"]),
    ("1.2.3[.]4", ["1.2.3.4"]),
    ("999.1.1.1 1.2.3 1.2.3.4.5 010.1.1.1", []),
    ("2606:4700:4700::1111 and [2001:4860::8888]", ["2606:4700:4700::1111", "2001:4860::8888"]),
    # private, loopback, link-local, documentation, CGNAT: skipped unless asked for
    ("10.0.0.1 192.168.1.1 127.0.0.1 169.254.169.254 100.64.0.1 203.0.113.7 ::1 fe80::1 2001:db8::1", []),
    ("at 10:30:00 on 2026-01-01", []),
]


@pytest.mark.parametrize(("text", "expected"), IPS)
def test_ips(text: str, expected: list[str]) -> None:
    assert extract("ips", text) == expected


def test_private_addresses_when_asked() -> None:
    assert extract("ips", "10.0.0.1 and ::1", include_private=True) == ["10.0.0.1", "::1"]


URLS = [
    ("hxxps://bad[.]example[.]org/x.php", ["https://bad.example.org/x.php"]),
    ("see (https://evil.com/path) and \"http://x.com/a.\"", ["https://evil.com/path", "http://x.com/a"]),
    ("https://en.wikipedia.org/wiki/Foo_(bar)", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
    ("HTTPS://X.COM/Path?q=A", ["https://x.com/Path?q=A"]),
    ("http://[2606:4700::1111]:8080/a", ["http://[2606:4700::1111]:8080/a"]),
    # a URL whose host is internal or not a real domain is not an indicator
    ("http://10.0.0.5/admin http://evil.test/x http://localhost:8000/", []),
]


@pytest.mark.parametrize(("text", "expected"), URLS)
def test_urls(text: str, expected: list[str]) -> None:
    assert extract("urls", text) == expected


MD5 = "44d88612fea8a8f36de82e1278abb02f"
SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"
SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def test_hashes() -> None:
    text = f"{MD5.upper()} sha1={SHA1} {SHA256}, again {MD5} but not {MD5}0 or x{SHA1}"
    assert extract("hashes", text) == [MD5, SHA1, SHA256]


def test_everything_at_once_in_text_order() -> None:
    text = (
        "/analyzedomain example.com evil.test hxxps://bad[.]example[.]org/x.php 1.2.3[.]4 "
        f"2001:db8::1 paypa1[.]zip www.Sub.Bbc.co.uk readme.md {MD5}"
    )
    assert extract_indicators(text) == {
        "domains": ["example.com", "bad.example.org", "paypa1.zip", "www.sub.bbc.co.uk"],
        "ips": ["1.2.3.4"],
        "urls": ["https://bad.example.org/x.php"],
        "hashes": [MD5],
        "skipped": [
            {"value": "2001:db8::1", "reason": "not a public address"},
            {"value": "readme.md", "reason": "looks like a file name (defang it, e.g. name[.]ext, to look it up)"},
        ],
        "found": {"domains": 4, "ips": 1, "urls": 1, "hashes": 1},
        "truncated": False,
        "message": "",
    }


def test_fifty_indicators_are_cut_with_a_message() -> None:
    text = " ".join(f"host{i}.example.com" for i in range(50))
    found = extract_indicators(text, 5)
    assert found["domains"] == [f"host{i}.example.com" for i in range(5)]
    assert found["found"]["domains"] == 50
    assert found["truncated"] is True
    assert found["message"] == "Found 50 domains, looking up the first 5."
    assert len(extract("domains", text)) == indicators.DEFAULT_LIMIT
    assert len(extract("domains", text, 0)) == 50


def test_a_bad_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="limit must be a whole number"):
        extract("domains", "x.com", "ten")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("evil[.]com", "domain"), ("hxxp://x[.]com/a", "url"), ("8.8.8.8", "ipv4"), ("::1", "ipv6"),
     (MD5, "md5"), (SHA1, "sha1"), (SHA256, "sha256"), ("report.pdf", ""), ("", ""), (None, "")],
)
def test_indicator_type(value: Any, expected: str) -> None:
    assert indicator_type(value) == expected


def test_registered_domain_is_what_rdap_knows() -> None:
    assert registered_domain("www.sub.bbc.co.uk") == "bbc.co.uk"
    assert registered_domain("https://a.b.evil.com/x") == "evil.com"
    assert registered_domain("evil.test") == ""


EVENT = {"receive_slack_command": {"body": {"text": "/analyzedomain evil[.]com bad(dot)org 8.8.8.8"}}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ .receive_slack_command.body.text | extract_domains | as_object }}", ["evil.com", "bad.org"]),
        ("{{ .receive_slack_command.body.text | extract_domains: 1 | join: ',' }}", "evil.com"),
        ("{{ .receive_slack_command.body.text | extract_ips | first }}", "8.8.8.8"),
        ("{{ 'evil[.]com' | refang }}", "evil.com"),
        ("{{ .missing | extract_domains | size }}", "0"),
        ("=EXTRACT_DOMAINS(receive_slack_command.body.text, 1)", ["evil.com"]),
        ("=EXTRACT_INDICATORS(receive_slack_command.body.text).ips", ["8.8.8.8"]),
        ("=REFANG('hxxp://x[.]com')", "http://x.com"),
        ("=INDICATOR_TYPE('8.8.8.8')", "ipv4"),
        ("=REGISTERED_DOMAIN('www.evil.co.uk')", "evil.co.uk"),
    ],
)
def test_filters_and_functions(template: str, expected: Any) -> None:
    assert render_value(template, EVENT, StaticScope()) == expected


def test_registered_for_tines_check() -> None:
    names = {"refang", "extract_domains", "extract_ips", "extract_urls", "extract_hashes",
             "extract_indicators", "indicator_type", "registered_domain", "verdict", "overall_level"}
    assert names <= supported_filters()
    assert {name.upper() for name in names} <= supported_functions()


def test_a_bad_argument_names_the_filter() -> None:
    with pytest.raises(TemplateError, match="extract_domains: limit must be a whole number"):
        render_value("{{ 'x.com' | extract_domains: 'ten' }}", {}, StaticScope())

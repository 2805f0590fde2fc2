"""The SSRF guard's decisions, without a network: address classes, IP spellings, the allow-list."""

from __future__ import annotations

import ipaddress

import pytest

from storyline.config import Settings
from storyline.egress.guard import AllowList, Guard, Refused, classify
from storyline.hosts import parse_allow, parse_ip


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("172.32.0.1", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "a loopback address"),
        ("127.5.6.7", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("fc00::1", "a private address"),
        ("100.64.0.1", "a private address (carrier-grade NAT)"),
        ("100.127.255.254", "a private address (carrier-grade NAT)"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.170.2", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("192.0.2.10", "a reserved address"),
        ("2001:db8::1", "a reserved address"),
    ],
)
def test_classify_address_classes(address: str, why: str | None) -> None:
    assert classify(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("::ffff:127.0.0.1", "a loopback address (IPv4 127.0.0.1 in IPv6 form)"),
        ("::ffff:10.0.0.1", "a private address (IPv4 10.0.0.1 in IPv6 form)"),
        ("::ffff:169.254.169.254", "a cloud metadata address (IPv4 169.254.169.254 in IPv6 form)"),
        ("::127.0.0.1", "a loopback address (IPv4 127.0.0.1 in IPv6 form)"),
        ("64:ff9b::a00:1", "a private address (IPv4 10.0.0.1 in IPv6 form)"),
        ("2002:7f00:1::", "a loopback address (IPv4 127.0.0.1 in IPv6 form)"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_ipv6_forms_carrying_ipv4_are_judged_by_the_ipv4_address(address: str, why: str | None) -> None:
    assert classify(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal
        ("017700000001", "127.0.0.1"),  # octal
        ("0x7f000001", "127.0.0.1"),  # hex
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short form
        ("10.1", "10.0.0.1"),
        ("169.254.169.254.", "169.254.169.254"),  # trailing dot
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("example.com", None),
        ("0xexample.com", None),
        ("1.2.3.4.5", None),
        ("", None),
    ],
)
def test_parse_ip_reads_every_spelling_resolvers_accept(host: str, address: str | None) -> None:
    parsed = parse_ip(host)
    assert (str(parsed) if parsed is not None else None) == address


def test_parse_allow_reads_hosts_suffixes_addresses_and_cidrs() -> None:
    assert parse_allow(" API.internal , *.corp.example,10.20.0.0/16, 127.0.0.1,fd00::/8,,") == (
        "api.internal", "*.corp.example", "10.20.0.0/16", "127.0.0.1", "fd00::/8")
    assert parse_allow("") == ()
    assert parse_allow("*") == ("*",)


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "300.1.1.1/8", "bad host", "a..b", "*.", "http://x.example", "x:80"])
def test_parse_allow_rejects_bad_entries_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="egress allow entry"):
        parse_allow(raw)


def test_allow_list_matching() -> None:
    allow = AllowList(parse_allow("api.internal,*.corp.example,10.20.0.0/16,fd00::/8"))
    assert allow.allows_host("api.internal") and allow.allows_host("API.Internal.")
    assert not allow.allows_host("x.api.internal")
    assert allow.allows_host("jira.corp.example") and allow.allows_host("a.b.corp.example")
    assert not allow.allows_host("corp.example") and not allow.allows_host("evilcorp.example")
    assert allow.allows_host("10.20.3.4") and allow.allows_host("0x0a140304")  # same address, hex
    assert not allow.allows_host("10.21.0.1")
    assert allow.allows_address(ipaddress.ip_address("fd00::5"))
    assert not allow.allows_address(ipaddress.ip_address("10.0.0.1"))
    everything = AllowList(["*"])
    assert everything.everything and everything.allows_host("127.0.0.1")


def test_check_host_refuses_literals_and_metadata_names_before_any_dns() -> None:
    guard = Guard()
    for host, reason in [
        ("10.0.0.5", "10.0.0.5 is a private address"),
        ("2130706433", "2130706433 (127.0.0.1) is a loopback address"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1 is a loopback address (IPv4 127.0.0.1 in IPv6 form)"),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("Metadata.Google.Internal.", "metadata.google.internal is a cloud metadata host"),
    ]:
        with pytest.raises(Refused) as info:
            guard.check_host(host)
        assert info.value.reason == reason and info.value.host == host
        assert str(info.value) == f"{reason} (set STORYLINE_EGRESS_ALLOW to permit)"
    # Names are judged by their addresses when a connection is made, not here.
    guard.check_host("localhost")
    guard.check_host("api.example.com")
    guard.check_host("8.8.8.8")


def test_check_host_lets_allowed_hosts_through() -> None:
    guard = Guard(AllowList(parse_allow("10.0.0.0/8,metadata.google.internal")))
    guard.check_host("10.0.0.5")
    guard.check_host("metadata.google.internal")
    with pytest.raises(Refused):
        guard.check_host("192.168.0.1")


class Answers:
    """A resolver that gives fixed answers and remembers what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.addresses


async def test_addresses_are_resolved_once_and_every_answer_is_checked() -> None:
    public = Answers("93.184.216.34", "2606:2800:220:1::1")
    assert await Guard(resolver=public).addresses("api.example.com", 443) == [
        "93.184.216.34", "2606:2800:220:1::1"]
    assert public.calls == [("api.example.com", 443)]
    # One bad answer among good ones refuses the name: round-robin cannot smuggle it in.
    with pytest.raises(Refused, match=r"evil\.example resolves to 10\.1\.2\.3, a private address"):
        await Guard(resolver=Answers("93.184.216.34", "10.1.2.3")).addresses("evil.example", 80)
    with pytest.raises(Refused, match=r"resolves to ::ffff:a9fe:a9fe, a cloud metadata address \(IPv4 169\.254\.169\.254"):
        await Guard(resolver=Answers("::ffff:169.254.169.254")).addresses("evil.example", 80)


async def test_addresses_of_allowed_hosts_and_override_targets_are_not_checked() -> None:
    never = Answers()
    guard = Guard(AllowList(["intranet.example"]), [("127.0.0.1", 9001)], resolver=never)
    assert await guard.addresses("127.0.0.1", 9001) == ["127.0.0.1"]
    assert await guard.addresses("intranet.example", 443) == ["intranet.example"]
    assert never.calls == []
    # The target's address on another port is not a target.
    with pytest.raises(Refused, match=r"127\.0\.0\.1 is a loopback address"):
        await guard.addresses("127.0.0.1", 9002)
    # An allowed network admits the names that resolve into it.
    internal = Guard(AllowList(["10.20.0.0/16"]), resolver=Answers("10.20.0.7"))
    assert await internal.addresses("jira.internal", 443) == ["10.20.0.7"]
    # IP literals are connected to as parsed, whatever their spelling.
    assert await Guard(resolver=never).addresses("134744072", 80) == ["8.8.8.8"]


def test_settings_read_the_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_EGRESS_ALLOW", "jira.internal, 10.0.0.0/8")
    assert Settings.from_env().egress_allow == ("jira.internal", "10.0.0.0/8")
    monkeypatch.setenv("STORYLINE_EGRESS_ALLOW", "10.0.0.0/8,not a host")
    with pytest.raises(SystemExit, match=r"STORYLINE_EGRESS_ALLOW: egress allow entry 'not a host'"):
        Settings.from_env()

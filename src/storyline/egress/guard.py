"""The SSRF guard: stories may not make storyline call into its own network.

A story's URL is often built from event data (an alert's link, a user's chat
message), so without a guard anyone who can send an event can make the worker
fetch ``http://169.254.169.254/latest/meta-data/`` or an admin port on localhost
and read the answer back from the event. Outbound requests are therefore refused
when they go to a loopback, private, link-local, multicast, reserved or
cloud-metadata address, unless the operator allowed the host
(``STORYLINE_EGRESS_ALLOW``) or pointed it at a fake (``STORYLINE_EGRESS_OVERRIDES``).

The check runs twice, because either alone can be bypassed:

* ``Guard.check_host`` before every request and redirect hop, on the host as
  written. It catches IP literals in all their spellings (``2130706433``,
  ``0x7f.1``, ``[::ffff:127.0.0.1]``) and metadata host names, and it stops a story
  from reusing a pooled keep-alive connection to an override's fake by naming the
  fake's address itself.
* ``Guard.addresses`` whenever a new connection is opened (``wire.Wire`` asks it):
  it resolves the name once and checks every address, and the connection is made
  to a checked address, so a DNS answer that changes between check and connect
  (rebinding) changes nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

from storyline.hosts import IPAddress, IPNetwork, parse_allow_entry, parse_ip

Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOW_HINT = "set STORYLINE_EGRESS_ALLOW to permit"

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure WireServer: a public address, but only meaningful from inside Azure
    )
)
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
"""Names that only resolve inside a cloud, to its metadata service: refused before any DNS."""

_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

class Refused(Exception):
    """The guard refused a destination. Permanent: the same URL will be refused again.

    ``host`` is the host that was refused (which may be a redirect's, not the
    story's); ``reason`` says why in words safe to show (host and address only).
    """

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{reason} ({ALLOW_HINT})")
        self.host = host
        self.reason = reason


def classify(address: IPAddress) -> str | None:
    """Why ``address`` is no place for a story to send a request, or ``None`` if it is public.

    The answer completes "<address> is ...": "a private address", "a loopback
    address". IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64,
    6to4) are judged by that IPv4 address.
    """
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            why = classify(embedded)
            return f"{why} (IPv4 {embedded} in IPv6 form)" if why else None
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _CGNAT:
        return "a private address (carrier-grade NAT)"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _host_key(host: str) -> str:
    return host.strip().rstrip(".").lower()


class AllowList:
    """Destinations the operator vouched for: exact hosts, ``*.suffix`` subdomains, networks.

    ``*.corp.example`` matches ``a.corp.example`` and ``a.b.corp.example`` but not
    ``corp.example`` itself (list both when both are meant). ``*`` allows everything.
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.everything = False
        self._hosts: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[IPNetwork] = []
        for entry in entries:
            if entry.strip() == "*":
                self.everything = True
                continue
            parsed = parse_allow_entry(entry.strip().lower())
            if not isinstance(parsed, str):
                self._networks.append(parsed)
            elif parsed.startswith("*."):
                self._suffixes.append(parsed[1:])
            else:
                self._hosts.add(parsed)

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` (a name or an IP literal) was allowed by name or network."""
        if self.everything:
            return True
        key = _host_key(host)
        if key in self._hosts or any(key.endswith(suffix) for suffix in self._suffixes):
            return True
        address = parse_ip(key)
        return address is not None and self.allows_address(address)

    def allows_address(self, address: IPAddress) -> bool:
        return self.everything or any(address in network for network in self._networks)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its preferred order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Guard:
    """Decides where outbound requests may go.

    ``endpoints`` are (host, port) pairs that are always reachable: the override
    targets, which the operator configured (they are fakes on 127.0.0.1 in tests).
    ``resolver`` turns a name into addresses; tests give one that lies like a
    rebinding DNS server would.
    """

    def __init__(
        self,
        allow: AllowList | None = None,
        endpoints: Iterable[tuple[str, int]] = (),
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow = allow or AllowList()
        self.endpoints = frozenset((_host_key(host), port) for host, port in endpoints)
        self._resolver = resolver

    def check_host(self, host: str) -> None:
        """Refuse a host as written in a URL, before any connection (cheap: no DNS)."""
        if not host or self.allow.allows_host(host):
            return
        key = _host_key(host)
        if key in METADATA_HOSTS:
            raise Refused(host, f"{key} is a cloud metadata host")
        address = parse_ip(key)
        if address is not None:
            why = classify(address)
            if why is not None:
                shown = key if address.version == 6 or str(address) == key else f"{key} ({address})"
                raise Refused(host, f"{shown} is {why}")

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a new connection to ``host`` may use, every one of them checked.

        Allowed hosts and override targets come back as they are (the system connects
        as usual). A name whose answers include a refused address is refused whole,
        so a round-robin answer cannot smuggle one in.
        """
        if (_host_key(host), port) in self.endpoints or self.allow.allows_host(host):
            return [host]
        self.check_host(host)
        address = parse_ip(host)
        found = [str(address)] if address is not None else await self._resolver(host, port)
        for text in found:
            resolved = ipaddress.ip_address(text)
            if self.allow.allows_address(resolved):
                continue
            why = classify(resolved)
            if why is not None:
                raise Refused(host, f"{host} resolves to {resolved}, {why}")
        return found

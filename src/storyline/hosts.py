"""Hosts and addresses as the operator writes them: ``STORYLINE_EGRESS_ALLOW`` and ``_OVERRIDES``.

A leaf (nothing of storyline imported), so ``config`` refuses a bad setting when it
reads the environment and egress builds its allow-list and overrides from the same
rules. IP literals are read in every spelling a resolver accepts, because the SSRF
guard (``egress/guard.py``) must see ``0x7f.1`` as the loopback address it is.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# What C's inet_aton (and so getaddrinfo) accepts as an IPv4 address besides the
# dotted quad: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)


def parse_ip(host: str) -> IPAddress | None:
    """The address a host names when it is an IP literal in any spelling, else ``None``.

    Besides the usual forms this reads what resolvers read as IPv4: ``2130706433``,
    ``017700000001``, ``0x7f.0.0.1``, ``127.1``; a zone (``fe80::1%eth0``) is kept.
    """
    host = host.strip().rstrip(".").strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def parse_overrides(raw: str) -> dict[str, str]:
    """Parse the ``STORYLINE_EGRESS_OVERRIDES`` format: ``host=URL,host:port=URL``.

    Hosts are lower-cased (hosts are case-insensitive); base URLs lose a trailing
    slash so a path prefix joins cleanly. Raises ``ValueError`` naming the bad entry,
    because a silently ignored override sends test traffic to the real service.
    """
    overrides: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, sep, target = item.partition("=")
        host, target = host.strip().lower(), target.strip()
        if not sep or not host or not target:
            raise ValueError(
                f"egress override {item!r} is not host=URL (example: slack.com=http://127.0.0.1:9001)"
            )
        override_url(host, target)
        overrides[host] = target.rstrip("/")
    return overrides


_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?")


def parse_host_names(raw: str, what: str) -> tuple[str, ...]:
    """Comma-separated host names (``tenant.tines.io``, ``host:8443``), lower-cased; ``ValueError``
    naming the first entry that is a URL, a pattern or not a host name."""
    names = tuple(part.strip().lower().rstrip(".") for part in raw.split(",") if part.strip())
    for name in names:
        if not _HOST_NAME.fullmatch(name):
            raise ValueError(f"{what}: {name!r} is not a host name (example: tenant.tines.io; "
                             "no scheme, path or wildcard)")
    return names


def override_url(host: str, base: str) -> httpx.URL:
    """The base URL an override sends ``host`` to; ``ValueError`` unless it is a plain http(s) URL."""
    import httpx  # here: every command reads the settings, few need an HTTP client (httpx costs ~60 ms to import)

    try:
        url = httpx.URL(base)
    except httpx.InvalidURL as exc:
        raise ValueError(f"egress override for {host!r}: {base!r} is not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"egress override for {host!r}: {base!r} must be an http:// or https:// URL")
    if url.query or url.fragment:
        raise ValueError(f"egress override for {host!r}: {base!r} must not carry a query or fragment")
    return url


def parse_allow(raw: str) -> tuple[str, ...]:
    """Parse ``STORYLINE_EGRESS_ALLOW``: host names, ``*.suffix``, IP addresses and CIDRs, or ``*``.

    Raises ``ValueError`` naming the bad entry: a typo here would silently keep
    refusing the host the operator meant to allow.
    """
    entries: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        entry = item.lower()
        if entry != "*":
            parse_allow_entry(entry)
        entries.append(entry)
    return tuple(entries)


def parse_allow_entry(entry: str) -> IPNetwork | str:
    if "/" in entry or parse_ip(entry) is not None:
        try:
            address = parse_ip(entry)
            return ipaddress.ip_network(address if address is not None else entry, strict=False)
        except ValueError:
            raise ValueError(f"egress allow entry {entry!r} is not an IP address or CIDR") from None
    name = entry.removeprefix("*.")
    labels = name.rstrip(".").split(".")
    if not name or not all(re.fullmatch(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?", label) for label in labels):
        raise ValueError(
            f"egress allow entry {entry!r} is not a host name, *.suffix, IP address or CIDR "
            "(example: api.internal,*.corp.example,10.20.0.0/16)"
        )
    return entry.rstrip(".")

"""Indicators of compromise in chat text: refang, then find domains, IPs, URLs and hashes.

Analysts paste indicators defanged (``hxxps://bad[.]example[.]org``) and chat platforms
wrap links in markup (Slack's ``<http://x.com|x.com>``), so text is refanged first. The
rules are storyline's own, and strict on purpose: a dot or an at sign counts only inside a
pair of brackets. ioc-fanger's looser rules read ``(example.net)`` as ``(example.n@``,
which loses the very domain a chat message names. Then:

* **domains** are checked against the public suffix list bundled with tldextract, never
  fetched at run time (``evil.test``, ``localhost`` and ``report.pdf`` are not domains);
  a plain ``name.ext`` whose suffix is also a common file extension (``invoice.zip``,
  ``setup.py``) is taken as a file name unless it was defanged or is a URL's host;
* **IPs** (v4 and v6) must be globally routable unless private ones are asked for;
* **URLs** need a scheme and a host that is a domain or an IP as above; their host is
  reported with the domains (or IPs) too;
* **hashes** are MD5, SHA-1 and SHA-256 hex strings.

Every list is lower-cased where case does not matter, de-duplicated, kept in the order
of the text, and cut to ``limit`` entries, with ``truncated`` saying so: a chat command
with 50 indicators must not start 150 lookups against rate-limited APIs.
"""

from __future__ import annotations

import html
import ipaddress
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import tldextract

DEFAULT_LIMIT = 10
"""Indicators of each kind one call returns at most (``limit`` <= 0: all of them)."""

FILE_EXTENSIONS = frozenset({"zip", "mov", "md", "py", "sh", "rs"})
"""Public suffixes that are far more often file extensions in chat (``readme.md``)."""

KINDS = ("domains", "ips", "urls", "hashes")

_HASH_TYPES = {32: "md5", 40: "sha1", 64: "sha256"}

# Slack: <https://x.com|x.com>, <https://x.com>, <mailto:a@b.com|a@b.com>; HTML anchors (Teams).
_SLACK_LINK = re.compile(r"<((?:https?|ftp|mailto):[^<>|\s]*)(?:\|([^<>]*))?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?(?:a|at|p|div|span|b|i|strong|em|br)\b[^<>]*>", re.IGNORECASE)
_FANG: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"\b(?:hxxp|hxtp|htxp|h\[tt\]p|h\[xx\]p)(s?)(?=\s*(?:\[:|\(:|:))", re.IGNORECASE),
     lambda m: "http" + m.group(1).lower()),
    (re.compile(r"\bfxp(?=\s*(?:\[:|\(:|:))", re.IGNORECASE), "ftp"),
    (re.compile(r"\[://\]|[\[(]:[\])]//"), "://"),
    (re.compile(r"[\[(]:[\])]"), ":"),
    (re.compile(r" ?[\[({] ?(?:\.|dot) ?[\])}] ?", re.IGNORECASE), "."),
    (re.compile(r"(?<=\w) DOT (?=\w)|\\\."), "."),
    (re.compile(r" ?[\[({] ?(?:@|at) ?[\])}] ?", re.IGNORECASE), "@"),
    (re.compile(r"\[/\]"), "/"),
)

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_DOMAIN = re.compile(rf"(?<![\w/.-])((?:{_LABEL}\.)+[^\W\d_](?:[\w-]{{0,61}}[^\W_])?)(?![\w-]|\.[^\W_])")
_IPV4 = re.compile(r"(?<![\w.])((?:\d{1,3}\.){3}\d{1,3})(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])((?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?)(?![\w:])",
                   re.IGNORECASE)
_HASH = re.compile(r"(?<!\w)([0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})(?!\w)", re.IGNORECASE)
_TRAILING = ".,;:!?'\"]}>"


@cache
def _psl() -> tldextract.TLDExtract:
    # No suffix list URLs and no cache directory: the snapshot shipped inside tldextract.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _as_text(text: Any) -> str:
    """Text to scan from any template value (nil: nothing; a list: its items, one per line)."""
    if text is None:
        return ""
    if isinstance(text, (list, tuple)):
        return "\n".join(_as_text(item) for item in text)
    return text if isinstance(text, str) else str(text)


def refang(text: Any) -> str:
    """Undo defanging (``hxxp``, ``[.]``, ``(dot)``, ``[:]``, ``[at]`` ...) and chat link markup."""
    value = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), _as_text(text))
    value = html.unescape(_HTML_TAG.sub(" ", value))
    for pattern, replacement in _FANG:
        value = pattern.sub(replacement, value)
    return value


def _domain(candidate: str) -> str | None:
    """The FQDN, lower-cased, if it ends in a public suffix with a name under it."""
    name = candidate.rstrip(".").lower()
    parts = _psl()(name)
    return name if parts.suffix and parts.domain else None


def registered_domain(name: Any) -> str:
    """The name registered under its public suffix (``www.bbc.co.uk`` -> ``bbc.co.uk``): what RDAP knows."""
    text = _as_text(name).strip()
    try:
        host = urlsplit(text).hostname if "://" in text else text
    except ValueError:
        return ""
    return _psl()((host or "").rstrip(".").lower()).top_domain_under_public_suffix


def _ip(candidate: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(candidate.strip("[]"))
    except ValueError:
        return None


def _trim_url(url: str) -> str:
    while url and url[-1] in _TRAILING + ")":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


@dataclass
class _Found:
    include_private: bool
    lists: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    skipped: list[dict[str, str]] = field(default_factory=list)

    def add(self, kind: str, value: str) -> None:
        if value not in self.lists[kind]:
            self.lists[kind].append(value)

    def skip(self, value: str, reason: str) -> None:
        if all(entry["value"] != value for entry in self.skipped):
            self.skipped.append({"value": value, "reason": reason})

    def host(self, host: str) -> bool:
        """Record a URL's host as a domain or an IP; False when it is neither (or private)."""
        ip = _ip(host)
        if ip is not None:
            return self.address(ip)
        domain = _domain(host)
        if domain is None:
            self.skip(host, "not under a public suffix")
            return False
        self.add("domains", domain)
        return True

    def address(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if not ip.is_global and not self.include_private:
            self.skip(str(ip), "not a public address")
            return False
        self.add("ips", str(ip))
        return True


def _scan(text: str, include_private: bool) -> _Found:
    fanged = refang(text)
    found = _Found(include_private)
    hits: list[tuple[int, str, str]] = []
    masked = list(fanged)
    for match in _URL.finditer(fanged):
        url = _trim_url(match.group(0))
        hits.append((match.start(), "url", url))
        masked[match.start() : match.start() + len(url)] = " " * len(url)
    rest = "".join(masked)
    hits += [(m.start(), "ipv4", m.group(1)) for m in _IPV4.finditer(rest)]
    hits += [(m.start(), "ipv6", m.group(1)) for m in _IPV6.finditer(rest)]
    hits += [(m.start(), "domain", m.group(1)) for m in _DOMAIN.finditer(rest)]
    hits += [(m.start(), "hash", m.group(1)) for m in _HASH.finditer(fanged)]
    for _, kind, value in sorted(hits, key=lambda hit: hit[0]):
        if kind == "url":
            try:
                parts = urlsplit(value)
                host = parts.hostname
            except ValueError:
                continue
            if host and found.host(host):
                found.add("urls", parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl())
        elif kind in ("ipv4", "ipv6"):
            ip = _ip(value)
            if ip is not None:
                found.address(ip)
        elif kind == "domain":
            _domain_hit(found, value, text)
        else:
            found.add("hashes", value.lower())
    return found


def _domain_hit(found: _Found, value: str, original: str) -> None:
    domain = _domain(value)
    if domain is None:
        return
    if domain.count(".") == 1 and domain.rsplit(".", 1)[1] in FILE_EXTENSIONS and _written_plainly(domain, original):
        found.skip(domain, "looks like a file name (defang it, e.g. name[.]ext, to look it up)")
        return
    found.add("domains", domain)


def _written_plainly(name: str, original: str) -> bool:
    """Whether ``name`` stands as a word in the text as typed (not defanged, not in a URL)."""
    pattern = rf"(?<![\w/.@-]){re.escape(name)}(?![\w-]|\.\w)"
    return re.search(pattern, original, re.IGNORECASE) is not None


def _limit(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"limit must be a whole number (got {value!r})") from None


def _cut(items: list[str], limit: int) -> list[str]:
    return items if limit <= 0 else items[:limit]


def extract_indicators(text: Any, limit: Any = None, include_private: Any = False) -> dict[str, Any]:
    """Every indicator in ``text``: ``{domains, ips, urls, hashes, skipped, found, truncated, message}``.

    ``found`` counts each kind before the cut; ``message`` says what was cut, for the reply.
    """
    most = _limit(limit)
    found = _scan(_as_text(text), bool(include_private))
    counts = {kind: len(found.lists[kind]) for kind in KINDS}
    cut = [kind for kind in KINDS if 0 < most < counts[kind]]
    message = "; ".join(f"found {counts[kind]} {kind}, looking up the first {most}" for kind in cut)
    return {
        **{kind: _cut(found.lists[kind], most) for kind in KINDS},
        "skipped": found.skipped,
        "found": counts,
        "truncated": bool(cut),
        "message": message[:1].upper() + message[1:] + ("." if message else ""),
    }


def extract(kind: str, text: Any, limit: Any = None, include_private: Any = False) -> list[str]:
    """One kind of indicator (``domains``, ``ips``, ``urls`` or ``hashes``) from ``text``."""
    return _cut(_scan(_as_text(text), bool(include_private)).lists[kind], _limit(limit))


def indicator_type(value: Any) -> str:
    """What one indicator is: ``url``, ``ipv4``, ``ipv6``, ``domain``, ``md5``, ``sha1``, ``sha256``, or ``""``.

    Stories pick the lookup endpoint with it (VirusTotal's ``/ip_addresses/`` or ``/domains/``).
    """
    candidate = refang(value).strip()
    if _URL.fullmatch(candidate):
        return "url"
    ip = _ip(candidate)
    if ip is not None:
        return f"ipv{ip.version}"
    if _HASH.fullmatch(candidate):
        return _HASH_TYPES[len(candidate)]
    return "domain" if _DOMAIN.fullmatch(candidate) and _domain(candidate) else ""

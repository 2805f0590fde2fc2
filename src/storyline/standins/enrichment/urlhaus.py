"""URLhaus (abuse.ch) as stories call it: ``POST /v1/{host|url|payload}/`` with a form body.

Answers are shaped like abuse.ch's: ``query_status`` ``ok`` or ``no_results`` (or
``invalid_host`` ...), numbers as strings, ``blacklists`` left out for IP addresses. Since
June 2025 every call needs an ``Auth-Key`` header: without one (or with another than
``auth_key``) the answer is 401 ``unknown_auth_key``. ``keyless`` plays URLhaus as it was
before, for the 2019 stories that send no key. A host is listed by its canned profile
(:mod:`.profiles`) unless :meth:`Urlhaus.add_host` listed it with its own URLs.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.standins.enrichment.profiles import Profile, is_ip, profile

NO_RESULTS = {"query_status": "no_results"}


def _url_entry(number: int, url: str, online: bool) -> dict[str, Any]:
    return {
        "id": str(3_100_000 + number), "urlhaus_reference": f"https://urlhaus.abuse.ch/url/{3_100_000 + number}/",
        "url": url, "url_status": "online" if online else "offline", "date_added": "2026-01-02 10:11:12 UTC",
        "threat": "malware_download", "reporter": "sandbox", "larted": "true",
        "takedown_time_seconds": "" if online else "7200", "tags": ["elf", "Mozi"],
    }


def host_listing(host: str, urls: list[tuple[str, bool]], *, abused: bool) -> dict[str, Any]:
    """A ``POST /v1/host/`` answer listing ``urls`` (url, online); ``abused``: on the blocklists too."""
    answer: dict[str, Any] = {
        "query_status": "ok", "urlhaus_reference": f"https://urlhaus.abuse.ch/host/{host}/", "host": host,
        "firstseen": "2026-01-02 10:11:12 UTC", "url_count": str(len(urls)),
        "urls": [_url_entry(i, url, online) for i, (url, online) in enumerate(urls)],
    }
    if not is_ip(host):  # URLhaus leaves blacklists out for IP addresses
        answer["blacklists"] = {"spamhaus_dbl": "abused_legit_malware" if abused else "not listed",
                                "surbl": "listed" if abused else "not listed"}
    return answer


def urlhaus_host(host: str, who: Profile) -> dict[str, Any]:
    """A ``POST /v1/host/`` answer for a host's canned profile."""
    if who.verdict not in ("malicious", "suspicious"):
        return dict(NO_RESULTS)
    online = who.verdict == "malicious"
    count = 3 if online else 1
    return host_listing(host, [(f"http://{host}/bins/payload{i}.elf", online and i == 0) for i in range(count)],
                        abused=online)


def urlhaus_url(url: str, who: Profile) -> dict[str, Any]:
    """A ``POST /v1/url/`` answer."""
    if who.verdict not in ("malicious", "suspicious"):
        return dict(NO_RESULTS)
    entry = _url_entry(0, url, who.verdict == "malicious")
    return {"query_status": "ok", **entry, "host": _host_of(url), "payloads": []}


def urlhaus_payload(digest: str, who: Profile) -> dict[str, Any]:
    """A ``POST /v1/payload/`` answer (``md5_hash`` or ``sha256_hash``)."""
    if who.verdict != "malicious":
        return dict(NO_RESULTS)
    return {
        "query_status": "ok", "md5_hash": hashlib.md5(digest.encode()).hexdigest() if len(digest) != 32 else digest,
        "sha256_hash": digest if len(digest) == 64 else hashlib.sha256(digest.encode()).hexdigest(),
        "file_type": "elf", "file_size": "73802", "signature": "Mozi", "firstseen": "2026-01-02 10:11:12",
        "lastseen": "2026-01-05 08:00:00", "url_count": "2", "urlhaus_download": "https://urlhaus-api.abuse.ch/v1/download/x/",
        "urls": [_url_entry(i, f"http://203.0.113.{i + 1}/i", i == 0) for i in range(2)],
    }


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


class Urlhaus:
    """URLhaus for one ``Auth-Key`` (any key will do when it is None, as in the demo)."""

    def __init__(self, auth_key: str | None = None, *, keyless: bool = False) -> None:
        self.auth_key = auth_key
        self.keyless = keyless
        self.hosts: dict[str, list[str]] = {}
        """Hosts listed with their own URLs (:meth:`add_host`), all online."""

    def add_host(self, host: str, *urls: str) -> None:
        """List ``host`` with ``urls`` (one ``/payload.exe`` when none are given)."""
        self.hosts[host.lower()] = list(urls) or [f"http://{host}/payload.exe"]

    def reset(self) -> None:
        self.hosts.clear()

    def routes(self) -> list[Route]:
        return [Route("/v1/{endpoint}/", self._lookup, methods=["POST"])]

    def host_answer(self, host: str) -> dict[str, Any]:
        """The ``/v1/host/`` answer for ``host``."""
        urls = self.hosts.get(host)
        if urls is not None:
            return host_listing(host, [(url, True) for url in urls], abused=True)
        return urlhaus_host(host, profile(host))

    async def _lookup(self, request: Request) -> Response:
        if not self.keyless:
            key = request.headers.get("auth-key")
            if not key or (self.auth_key is not None and key != self.auth_key):
                return JSONResponse({"query_status": "unknown_auth_key"}, status_code=401)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        endpoint = request.path_params["endpoint"]
        if endpoint == "host":
            host = str(form.get("host") or "").strip().lower()
            answer = self.host_answer(host) if host else {"query_status": "invalid_host"}
        elif endpoint == "url":
            url = str(form.get("url") or "").strip()
            answer = urlhaus_url(url, profile(url)) if url else {"query_status": "invalid_url"}
        elif endpoint == "payload":
            digest = str(form.get("sha256_hash") or form.get("md5_hash") or "").strip().lower()
            answer = urlhaus_payload(digest, profile(digest)) if len(digest) in (32, 64) else {"query_status": "invalid_md5"}
        else:
            return JSONResponse({"query_status": "unknown_endpoint"}, status_code=404)
        return JSONResponse(answer)

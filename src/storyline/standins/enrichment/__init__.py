"""VirusTotal v3, URLhaus and RDAP as stand-ins: canned, deterministic answers shaped like the real ones.

What an indicator gets depends on its text only (see :func:`profile`), so a newcomer can
predict the demo and tests can pick a verdict by picking a name:

* containing ``unknown``: unknown everywhere (VirusTotal 404, URLhaus ``no_results``, RDAP 404);
* containing ``evil``, ``bad``, ``malware`` or ``phish``, the EICAR test file's hashes, or an
  IPv4 address in 45.0.0.0/8: malicious;
* containing ``sus``: suspicious;
* anything else: clean.

A domain containing ``new`` was registered 3 days ago; any other on 2009-03-14.

The builders (``virustotal_object``, ``urlhaus_host``, ``rdap_domain`` ...) are what the
sandbox serves and what the test fakes serve, so the canned JSON exists once. Response
shapes follow the vendors' documentation and recorded answers (see the enrichment notes).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.indicators import registered_domain

Verdict = Literal["malicious", "suspicious", "clean", "unknown"]

MALICIOUS_MARKERS = ("evil", "bad", "malware", "phish")
EICAR = frozenset({
    "44d88612fea8a8f36de82e1278abb02f",
    "3395856ce81f2b7382dee72602f798b642f14140",
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
})
MALICIOUS_NETWORK = ipaddress.ip_network("45.0.0.0/8")
OLD_REGISTRATION = dt.datetime(2009, 3, 14, tzinfo=dt.UTC)
NEW_DOMAIN_DAYS = 3
RDAP_BASE = "https://rdap.org/"
BOOTSTRAP_TLDS = (
    "com", "net", "org", "info", "biz", "io", "co", "me", "xyz", "top", "online", "site", "app", "dev",
    "zip", "mov", "shop", "live", "club", "uk", "de", "fr", "nl", "ru", "cn", "br", "in", "au", "eu", "us",
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """What the sandbox says about one indicator."""

    verdict: Verdict
    registered: dt.datetime


def profile(indicator: str, now: float | None = None) -> Profile:
    """The canned verdict and registration date for ``indicator`` (see the module docstring)."""
    text = indicator.strip().lower()
    clock = time.time() if now is None else now
    registered = (
        dt.datetime.fromtimestamp(clock, dt.UTC).replace(microsecond=0) - dt.timedelta(days=NEW_DOMAIN_DAYS)
        if "new" in text
        else OLD_REGISTRATION
    )
    if "unknown" in text:
        return Profile("unknown", registered)
    if any(marker in text for marker in MALICIOUS_MARKERS) or text in EICAR or _in_bad_network(text):
        return Profile("malicious", registered)
    return Profile("suspicious" if "sus" in text else "clean", registered)


def _in_bad_network(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in MALICIOUS_NETWORK
    except ValueError:
        return False


# -- VirusTotal v3 ---------------------------------------------------------------------------------

_VT_STATS: dict[Verdict, dict[str, int]] = {
    "malicious": {"harmless": 55, "malicious": 12, "suspicious": 1, "undetected": 26, "timeout": 0},
    "suspicious": {"harmless": 62, "malicious": 0, "suspicious": 2, "undetected": 30, "timeout": 0},
    "clean": {"harmless": 68, "malicious": 0, "suspicious": 0, "undetected": 26, "timeout": 0},
}
_VT_CATEGORIES: dict[Verdict, dict[str, str]] = {
    "malicious": {"Forcepoint ThreatSeeker": "phishing", "Sophos": "Phishing and Fraud", "BitDefender": "phishing"},
    "suspicious": {"Forcepoint ThreatSeeker": "newly registered websites"},
    "clean": {"Forcepoint ThreatSeeker": "information technology", "BitDefender": "computersandsoftware"},
}
_VT_REPUTATION: dict[Verdict, int] = {"malicious": -45, "suspicious": -3, "clean": 12}
_VT_COLLECTIONS = {"domains": "domain", "ip_addresses": "ip_address", "urls": "url", "files": "file"}


def virustotal_error(status: int, code: str, message: str) -> JSONResponse:
    """VirusTotal's error body: ``{"error": {"code", "message"}}``."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def vt_url_id(url: str) -> str:
    """VirusTotal's identifier for a URL: unpadded URL-safe base64 of it."""
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def virustotal_object(kind: str, ident: str, who: Profile) -> dict[str, Any]:
    """A ``GET /api/v3/{domains|ip_addresses|urls|files}/{id}`` answer for a known object."""
    verdict = who.verdict if who.verdict != "unknown" else "clean"
    attributes: dict[str, Any] = {
        "last_analysis_stats": dict(_VT_STATS[verdict]),
        "last_analysis_date": 1_767_225_600,
        "reputation": _VT_REPUTATION[verdict],
        "total_votes": {"harmless": 3 if verdict == "clean" else 0, "malicious": 9 if verdict == "malicious" else 0},
        "tags": [],
    }
    if kind == "domain":
        attributes.update(categories=dict(_VT_CATEGORIES[verdict]), creation_date=int(who.registered.timestamp()),
                          registrar="Sandbox Registrar, Inc.", tld=ident.rsplit(".", 1)[-1],
                          last_dns_records=[{"type": "A", "value": "93.184.216.34", "ttl": 300}])
    elif kind == "ip_address":
        attributes.update(country="NL", as_owner="Sandbox Hosting B.V.", asn=64500, network=f"{ident}/32")
    elif kind == "url":
        attributes.update(categories=dict(_VT_CATEGORIES[verdict]), url=_decode_url_id(ident),
                          last_final_url=_decode_url_id(ident), last_http_response_code=200)
    elif kind == "file":
        attributes.update(sha256=ident, md5=hashlib.md5(ident.encode()).hexdigest(),
                          sha1=hashlib.sha1(ident.encode()).hexdigest(), size=68,
                          type_description="Text", meaningful_name="sample.bin",
                          popular_threat_classification={"suggested_threat_label": "virus.eicar/test"}
                          if verdict == "malicious" else {})
    return {"data": {"id": ident, "type": kind, "links": {"self": f"https://www.virustotal.com/api/v3/{kind}s/{ident}"},
                     "attributes": attributes}}


def _decode_url_id(ident: str) -> str:
    try:
        return base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ident


async def _virustotal(request: Request) -> Response:
    if not request.headers.get("x-apikey"):
        return virustotal_error(401, "AuthenticationRequiredError", "X-Apikey header is missing")
    collection, ident = request.path_params["collection"], request.path_params["ident"]
    kind = _VT_COLLECTIONS.get(collection)
    if kind is None:
        return virustotal_error(400, "BadRequestError", f"unsupported collection {collection!r}")
    subject = _decode_url_id(ident) if kind == "url" else ident
    who = profile(subject)
    if who.verdict == "unknown":
        return virustotal_error(404, "NotFoundError", f'{kind.replace("_", " ").title()} "{ident}" not found')
    if kind == "file" and len(ident) != 64:
        # VirusTotal answers an MD5 or SHA-1 lookup with the file's SHA-256 as its id.
        known = {len(h): h for h in EICAR}
        ident = known[64] if ident.lower() in EICAR else hashlib.sha256(ident.encode()).hexdigest()
    return JSONResponse(virustotal_object(kind, ident.lower() if kind != "url" else ident, who))


# -- URLhaus ---------------------------------------------------------------------------------------

URLHAUS_NO_RESULTS = {"query_status": "no_results"}


def _urlhaus_url_entry(number: int, url: str, online: bool) -> dict[str, Any]:
    return {
        "id": str(3_100_000 + number), "urlhaus_reference": f"https://urlhaus.abuse.ch/url/{3_100_000 + number}/",
        "url": url, "url_status": "online" if online else "offline", "date_added": "2026-01-02 10:11:12 UTC",
        "threat": "malware_download", "reporter": "sandbox", "larted": "true",
        "takedown_time_seconds": "" if online else "7200", "tags": ["elf", "Mozi"],
    }


def urlhaus_host(host: str, who: Profile) -> dict[str, Any]:
    """A ``POST /v1/host/`` answer (numbers as strings, as URLhaus sends them)."""
    if who.verdict not in ("malicious", "suspicious"):
        return dict(URLHAUS_NO_RESULTS)
    online = who.verdict == "malicious"
    urls = [_urlhaus_url_entry(i, f"http://{host}/bins/payload{i}.elf", online and i == 0) for i in range(3 if online else 1)]
    answer: dict[str, Any] = {
        "query_status": "ok", "urlhaus_reference": f"https://urlhaus.abuse.ch/host/{host}/", "host": host,
        "firstseen": "2026-01-02 10:11:12 UTC", "url_count": str(len(urls)), "urls": urls,
    }
    if not _is_ip(host):  # URLhaus leaves blacklists out for IP addresses
        answer["blacklists"] = {"spamhaus_dbl": "abused_legit_malware" if online else "not listed",
                                "surbl": "listed" if online else "not listed"}
    return answer


def urlhaus_url(url: str, who: Profile) -> dict[str, Any]:
    """A ``POST /v1/url/`` answer."""
    if who.verdict not in ("malicious", "suspicious"):
        return dict(URLHAUS_NO_RESULTS)
    entry = _urlhaus_url_entry(0, url, who.verdict == "malicious")
    return {"query_status": "ok", **entry, "host": _host_of(url), "payloads": []}


def urlhaus_payload(digest: str, who: Profile) -> dict[str, Any]:
    """A ``POST /v1/payload/`` answer (``md5_hash`` or ``sha256_hash``)."""
    if who.verdict != "malicious":
        return dict(URLHAUS_NO_RESULTS)
    return {
        "query_status": "ok", "md5_hash": hashlib.md5(digest.encode()).hexdigest() if len(digest) != 32 else digest,
        "sha256_hash": digest if len(digest) == 64 else hashlib.sha256(digest.encode()).hexdigest(),
        "file_type": "elf", "file_size": "73802", "signature": "Mozi", "firstseen": "2026-01-02 10:11:12",
        "lastseen": "2026-01-05 08:00:00", "url_count": "2", "urlhaus_download": "https://urlhaus-api.abuse.ch/v1/download/x/",
        "urls": [_urlhaus_url_entry(i, f"http://203.0.113.{i + 1}/i", i == 0) for i in range(2)],
    }


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


async def _urlhaus(request: Request) -> Response:
    if not request.headers.get("auth-key"):
        return JSONResponse({"query_status": "unknown_auth_key"}, status_code=401)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    endpoint = request.path_params["endpoint"]
    if endpoint == "host":
        host = str(form.get("host") or "").strip().lower()
        answer = urlhaus_host(host, profile(host)) if host else {"query_status": "invalid_host"}
    elif endpoint == "url":
        url = str(form.get("url") or "").strip()
        answer = urlhaus_url(url, profile(url)) if url else {"query_status": "invalid_url"}
    elif endpoint == "payload":
        digest = str(form.get("sha256_hash") or form.get("md5_hash") or "").strip().lower()
        answer = urlhaus_payload(digest, profile(digest)) if len(digest) in (32, 64) else {"query_status": "invalid_md5"}
    else:
        return JSONResponse({"query_status": "unknown_endpoint"}, status_code=404)
    return JSONResponse(answer)


# -- RDAP ------------------------------------------------------------------------------------------


def rdap_domain(name: str, who: Profile) -> dict[str, Any]:
    """An RDAP domain object (RFC 9083) with registration, expiration and update events."""
    name = name.lower()
    expires = who.registered.replace(year=who.registered.year + (20 if who.registered == OLD_REGISTRATION else 1))
    return {
        "rdapConformance": ["rdap_level_0", "icann_rdap_response_profile_0"],
        "objectClassName": "domain", "handle": f"{int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)}_DOMAIN_SANDBOX",
        "ldhName": name.upper(),
        "links": [{"value": f"{RDAP_BASE}domain/{name}", "rel": "self", "href": f"{RDAP_BASE}domain/{name}",
                   "type": "application/rdap+json"}],
        "status": ["client transfer prohibited"],
        "events": [
            {"eventAction": "registration", "eventDate": _iso(who.registered)},
            {"eventAction": "expiration", "eventDate": _iso(expires)},
            {"eventAction": "last update of RDAP database", "eventDate": "2026-01-01T00:00:00Z"},
        ],
        "entities": [{"objectClassName": "entity", "handle": "9999", "roles": ["registrar"],
                      "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                               ["fn", {}, "text", "Sandbox Registrar, Inc."]]]}],
        "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.SANDBOX-DNS.NET"}],
        "secureDNS": {"delegationSigned": False},
    }


def rdap_not_found() -> JSONResponse:
    return JSONResponse({"errorCode": 404, "title": "Not Found", "description": ["Domain not found"]},
                        status_code=404, media_type="application/rdap+json")


def rdap_bootstrap(base: str = RDAP_BASE) -> dict[str, Any]:
    """IANA's ``dns.json`` (RFC 9224) sending every listed TLD to ``base``."""
    return {"version": "1.0", "publication": "2026-01-01T00:00:00Z",
            "description": "RDAP bootstrap file for Domain Name System registrations (storyline sandbox)",
            "services": [[list(BOOTSTRAP_TLDS), [base]]]}


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def _rdap(request: Request) -> Response:
    name = request.path_params["name"].strip().rstrip(".").lower()
    who = profile(name)
    # A registry knows registered names only: www.example.com is a 404, as it is for real.
    if who.verdict == "unknown" or registered_domain(name) != name:
        return rdap_not_found()
    return JSONResponse(rdap_domain(name, who), media_type="application/rdap+json")


async def _bootstrap(request: Request) -> Response:
    return JSONResponse(rdap_bootstrap())


def routes() -> dict[str, list[Route]]:
    """Routes per impersonated service (mounted under ``/_sandbox/<service>``)."""
    return {
        "virustotal": [Route("/api/v3/{collection}/{ident:path}", _virustotal, methods=["GET"])],
        "urlhaus": [Route("/v1/{endpoint}/", _urlhaus, methods=["POST"])],
        "rdap": [Route("/domain/{name}", _rdap, methods=["GET"])],
        "iana": [Route("/rdap/dns.json", _bootstrap, methods=["GET"])],
    }

"""VirusTotal as stories call it: API v3 with ``x-apikey`` and the legacy v2 reports with ``apikey=``.

* v3 ``GET /api/v3/{domains|ip_addresses|urls|files}/{id}``: without a key 401
  ``AuthenticationRequiredError``, with another key than ``api_key`` 401 ``WrongCredentialsError``,
  an unknown object 404 ``NotFoundError``; errors are ``{"error": {"code", "message"}}``.
* v2 ``GET /vtapi/v2/domain/report?domain=&apikey=`` (the 2019 chatbot stories read
  ``body['Forcepoint ThreatSeeker category']``): a missing or wrong key is 403 with an empty
  body, an unknown domain ``response_code: 0``, as the real v2 API answers; likewise
  ``ip-address/report?ip=``, ``file/report`` and ``url/report`` (``resource=``, GET or POST:
  ``positives`` of ``total`` and ``scans``) and ``POST file/scan`` (queued, with the file's SHA-256).

Both report the same data: the canned profile (:mod:`.profiles`) unless :meth:`VirusTotal.set_domain`
or :meth:`VirusTotal.unknown` said otherwise. A quota overrun is 429 with :data:`QUOTA_EXCEEDED`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.standins.enrichment.profiles import EICAR, Profile, Verdict, profile

QUOTA_EXCEEDED = {"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}
"""The body of VirusTotal's 429 (throttled fakes answer with it)."""

_STATS: dict[Verdict, dict[str, int]] = {
    "malicious": {"harmless": 55, "malicious": 12, "suspicious": 1, "undetected": 26, "timeout": 0},
    "suspicious": {"harmless": 62, "malicious": 0, "suspicious": 2, "undetected": 30, "timeout": 0},
    "clean": {"harmless": 68, "malicious": 0, "suspicious": 0, "undetected": 26, "timeout": 0},
}
_CATEGORIES: dict[Verdict, dict[str, str]] = {
    "malicious": {"Forcepoint ThreatSeeker": "phishing", "Sophos": "Phishing and Fraud", "BitDefender": "phishing"},
    "suspicious": {"Forcepoint ThreatSeeker": "newly registered websites"},
    "clean": {"Forcepoint ThreatSeeker": "information technology", "BitDefender": "computersandsoftware"},
}
_REPUTATION: dict[Verdict, int] = {"malicious": -45, "suspicious": -3, "clean": 12}
_COLLECTIONS = {"domains": "domain", "ip_addresses": "ip_address", "urls": "url", "files": "file"}
_ENGINES = 90


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
        "last_analysis_stats": dict(_STATS[verdict]),
        "last_analysis_date": 1_767_225_600,
        "reputation": _REPUTATION[verdict],
        "total_votes": {"harmless": 3 if verdict == "clean" else 0, "malicious": 9 if verdict == "malicious" else 0},
        "tags": [],
    }
    if kind == "domain":
        attributes.update(categories=dict(_CATEGORIES[verdict]), creation_date=int(who.registered.timestamp()),
                          registrar="Sandbox Registrar, Inc.", tld=ident.rsplit(".", 1)[-1],
                          last_dns_records=[{"type": "A", "value": "93.184.216.34", "ttl": 300}])
    elif kind == "ip_address":
        attributes.update(country="NL", as_owner="Sandbox Hosting B.V.", asn=64500, network=f"{ident}/32")
    elif kind == "url":
        attributes.update(categories=dict(_CATEGORIES[verdict]), url=_decode_url_id(ident),
                          last_final_url=_decode_url_id(ident), last_http_response_code=200)
    elif kind == "file":
        attributes.update(sha256=ident, md5=hashlib.md5(ident.encode()).hexdigest(),
                          sha1=hashlib.sha1(ident.encode()).hexdigest(), size=68,
                          type_description="Text", meaningful_name="sample.bin",
                          popular_threat_classification={"suggested_threat_label": "virus.eicar/test"}
                          if verdict == "malicious" else {})
    return {"data": {"id": ident, "type": kind, "links": {"self": f"https://www.virustotal.com/api/v3/{kind}s/{ident}"},
                     "attributes": attributes}}


def v2_domain_report(domain: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """A v2 ``domain/report`` answer carrying what the v3 ``attributes`` say."""
    stats = attributes.get("last_analysis_stats", {})
    categories: dict[str, str] = attributes.get("categories", {})
    records = attributes.get("last_dns_records") or [{"value": "192.0.2.10"}]
    return {
        "response_code": 1,
        "verbose_msg": "Domain found in dataset",
        **{f"{vendor} category": category for vendor, category in categories.items()},
        "Webutation domain info": {"Verdict": "unsure", "Safety score": 50},
        "categories": list(dict.fromkeys(categories.values())),
        "subdomains": [],
        "resolutions": [{"last_resolved": "2024-01-01 00:00:00", "ip_address": records[0]["value"]}],
        "detected_urls": [{"url": f"http://{domain}/login", "positives": stats.get("malicious", 0),
                           "total": sum(stats.values())}] if stats.get("malicious") else [],
        "whois": f"Domain Name: {domain.upper()}\nRegistrar: {attributes.get('registrar', 'Example Registrar')}",
    }


def v2_report(kind: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    """A v2 ``file``/``url``/``ip-address`` report carrying what a v3 object says."""
    attributes = data.get("attributes", {})
    stats = attributes.get("last_analysis_stats", {})
    results = attributes.get("last_analysis_results") or {}
    answer: dict[str, Any] = {
        "response_code": 1, "verbose_msg": "Scan finished, information embedded", "resource": subject,
        "scan_date": "2024-01-01 00:00:00", "positives": stats.get("malicious", 0), "total": sum(stats.values()),
        "permalink": f"https://www.virustotal.com/gui/{kind.replace('_', '-')}/{data.get('id', subject)}",
        "scans": {engine: {"detected": r.get("category") == "malicious", "result": r.get("result")}
                  for engine, r in results.items() if isinstance(r, dict)},
    }
    if kind == "file":
        answer.update({h: attributes.get(h, "") for h in ("md5", "sha1", "sha256")})
    elif kind == "url":
        answer["url"] = subject
    else:
        answer = {"response_code": 1, "verbose_msg": "IP address in dataset", "country": attributes.get("country", ""),
                  "as_owner": attributes.get("as_owner", ""), "detected_urls": [], "resolutions": [],
                  "positives": answer["positives"], "total": answer["total"]}
    return answer


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _decode_url_id(ident: str) -> str:
    try:
        return base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ident


class VirusTotal:
    """VirusTotal for one API key (any key will do when it is None, as in the demo)."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.domains: dict[str, dict[str, Any]] = {}
        """Attributes that replace the canned ones, per domain (:meth:`set_domain`)."""
        self.unknown_indicators: set[str] = set()

    def set_domain(self, domain: str, *, category: str | None = None, malicious: int = 0, harmless: int = 70,
                   **attributes: Any) -> None:
        """Give ``domain`` its own verdict: ``malicious`` of 90 engines, one Forcepoint ``category``
        (the canned categories when None), and any other v3 ``attributes``."""
        key = domain.lower()
        self.unknown_indicators.discard(key)
        self.domains[key] = {
            **({"categories": {"Forcepoint ThreatSeeker": category}} if category is not None else {}),
            "last_analysis_stats": {"harmless": harmless, "malicious": malicious, "suspicious": 0,
                                    "undetected": _ENGINES - harmless - malicious, "timeout": 0},
            "reputation": -10 * malicious,
            **attributes,
        }

    def unknown(self, indicator: str) -> None:
        """Make ``indicator`` absent from VirusTotal (v3 404, v2 ``response_code: 0``)."""
        self.domains.pop(indicator.lower(), None)
        self.unknown_indicators.add(indicator.lower())

    def reset(self) -> None:
        self.domains.clear()
        self.unknown_indicators.clear()

    def routes(self) -> list[Route]:
        return [
            Route("/api/v3/{collection}/{ident:path}", self._v3, methods=["GET"]),
            Route("/vtapi/v2/domain/report", self._v2_domain_report, methods=["GET"]),
            Route("/vtapi/v2/ip-address/report", self._v2_report("ip_address", "ip"), methods=["GET"]),
            Route("/vtapi/v2/file/report", self._v2_report("file", "resource"), methods=["GET", "POST"]),
            Route("/vtapi/v2/url/report", self._v2_report("url", "resource"), methods=["GET", "POST"]),
            Route("/vtapi/v2/file/scan", self._v2_file_scan, methods=["POST"]),
        ]

    def _v2_key_refused(self, key: str | None) -> bool:
        return not key or (self.api_key is not None and key != self.api_key)

    def _v2_report(self, kind: str, field: str) -> Callable[[Request], Awaitable[Response]]:
        """v2's ``{ip-address,file,url}/report``: the v3 data as v2 shaped it (positives of total, scans)."""

        async def endpoint(request: Request) -> Response:
            params = {**request.query_params, **(await request.form() if request.method == "POST" else {})}
            if self._v2_key_refused(_text(params.get("apikey"))):
                return Response(status_code=403)
            subject = _text(params.get(field))
            ident = base64.urlsafe_b64encode(subject.encode()).decode().rstrip("=") if kind == "url" else subject
            answer = self.report(kind, ident) if subject else None
            if answer is None:
                return JSONResponse({"response_code": 0, "resource": subject,
                                     "verbose_msg": "The requested resource is not among the finished, queued or "
                                                    "pending scans"})
            return JSONResponse(v2_report(kind, subject, answer["data"]))

        return endpoint

    async def _v2_file_scan(self, request: Request) -> Response:
        form = await request.form()
        if self._v2_key_refused(_text(form.get("apikey") or request.query_params.get("apikey"))):
            return Response(status_code=403)
        upload = form.get("file")
        content = await upload.read() if isinstance(upload, UploadFile) else str(upload or "").encode()
        sha256 = hashlib.sha256(content).hexdigest()
        return JSONResponse({"response_code": 1, "scan_id": f"{sha256}-1700000000", "sha256": sha256,
                             "resource": sha256, "permalink": f"https://www.virustotal.com/gui/file/{sha256}",
                             "verbose_msg": "Scan request successfully queued, come back later for the report"})

    def report(self, kind: str, ident: str) -> dict[str, Any] | None:
        """The v3 answer for an object, or None when VirusTotal does not know it."""
        subject = (_decode_url_id(ident) if kind == "url" else ident).lower()
        who = profile(subject)
        override = self.domains.get(subject) if kind == "domain" else None
        if subject in self.unknown_indicators or (who.verdict == "unknown" and override is None):
            return None
        if kind == "file" and len(ident) != 64:
            # VirusTotal answers an MD5 or SHA-1 lookup with the file's SHA-256 as its id.
            known = {len(h): h for h in EICAR}
            ident = known[64] if ident.lower() in EICAR else hashlib.sha256(ident.encode()).hexdigest()
        answer = virustotal_object(kind, ident.lower() if kind != "url" else ident, who)
        if override is not None:
            answer["data"]["attributes"].update(override)
        return answer

    async def _v3(self, request: Request) -> Response:
        key = request.headers.get("x-apikey")
        if not key:
            return virustotal_error(401, "AuthenticationRequiredError", "X-Apikey header is missing")
        if self.api_key is not None and key != self.api_key:
            return virustotal_error(401, "WrongCredentialsError", "Wrong API key")
        collection, ident = request.path_params["collection"], request.path_params["ident"]
        kind = _COLLECTIONS.get(collection)
        if kind is None:
            return virustotal_error(400, "BadRequestError", f"unsupported collection {collection!r}")
        answer = self.report(kind, ident)
        if answer is None:
            return virustotal_error(404, "NotFoundError", f'{kind.replace("_", " ").title()} "{ident}" not found')
        return JSONResponse(answer)

    async def _v2_domain_report(self, request: Request) -> Response:
        if self._v2_key_refused(request.query_params.get("apikey")):
            return Response(status_code=403)
        domain = request.query_params.get("domain", "")
        answer = self.report("domain", domain) if domain else None
        if answer is None:
            return JSONResponse({"response_code": 0, "verbose_msg": "Domain not found in dataset"})
        return JSONResponse(v2_domain_report(domain, answer["data"]["attributes"]))

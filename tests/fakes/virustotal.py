"""VirusTotal domain lookups, v2 and v3, shaped like the real answers stories read.

* v2 ``GET /vtapi/v2/domain/report?domain=&apikey=``: the chatbot stories read
  ``body['Forcepoint ThreatSeeker category']``. A missing or wrong key answers 403
  with an empty body, as the real v2 API does.
* v3 ``GET /api/v3/domains/{domain}`` with ``x-apikey``: 401 ``AuthenticationRequiredError``
  without a key, 401 ``WrongCredentialsError`` with a wrong one, 404 ``NotFoundError``
  for a domain marked unknown. The answer is the sandbox's (``storyline.standins.enrichment``)
  with this fake's verdict.

Every domain is known and categorised ``category`` (default "phishing") unless
``set_domain()`` says otherwise; ``unknown()`` makes one answer "not found".
Faults (429, 5xx, hang) come from ``FakeServer``.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.standins.enrichment import profile, virustotal_error, virustotal_object
from tests.fakes.server import ASGIApp, FakeServer


class FakeVirusTotal(FakeServer):
    """A VirusTotal stand-in; point ``www.virustotal.com`` at ``.url`` through egress overrides."""

    host_name = "www.virustotal.com"
    rate_limit_body = {"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}

    def __init__(self, api_key: str = "vt-test-key", *, category: str = "phishing") -> None:
        self.api_key = api_key
        self.category = category
        self.domains: dict[str, dict[str, Any]] = {}
        self.unknown_domains: set[str] = set()
        super().__init__()

    def set_domain(
        self,
        domain: str,
        *,
        category: str | None = None,
        malicious: int = 0,
        harmless: int = 70,
        **extra: Any,
    ) -> None:
        """Give ``domain`` its own verdict; ``extra`` keys are added to the v2 report."""
        self.unknown_domains.discard(domain.lower())
        self.domains[domain.lower()] = {
            "category": category or self.category,
            "malicious": malicious,
            "harmless": harmless,
            "extra": extra,
        }

    def unknown(self, domain: str) -> None:
        """Make ``domain`` absent from the dataset (v2 response_code 0, v3 404)."""
        self.domains.pop(domain.lower(), None)
        self.unknown_domains.add(domain.lower())

    def reset(self) -> None:
        super().reset()
        self.domains.clear()
        self.unknown_domains.clear()

    def _verdict(self, domain: str) -> dict[str, Any] | None:
        domain = domain.lower()
        if domain in self.unknown_domains:
            return None
        return self.domains.get(
            domain, {"category": self.category, "malicious": 0, "harmless": 70, "extra": {}}
        )

    # -- routes --------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Route("/vtapi/v2/domain/report", self._v2_domain_report, methods=["GET"]),
                Route("/api/v3/domains/{domain}", self._v3_domain, methods=["GET"]),
            ]
        )

    async def _v2_domain_report(self, request: Request) -> Response:
        if request.query_params.get("apikey") != self.api_key:
            return Response(status_code=403)
        domain = request.query_params.get("domain", "")
        verdict = self._verdict(domain) if domain else None
        if verdict is None:
            return JSONResponse({"response_code": 0, "verbose_msg": "Domain not found in dataset"})
        category = verdict["category"]
        report = {
            "response_code": 1,
            "verbose_msg": "Domain found in dataset",
            "Forcepoint ThreatSeeker category": category,
            "Webutation domain info": {"Verdict": "unsure", "Safety score": 50},
            "categories": [category],
            "subdomains": [],
            "resolutions": [{"last_resolved": "2024-01-01 00:00:00", "ip_address": "192.0.2.10"}],
            "detected_urls": [
                {"url": f"http://{domain}/login", "positives": verdict["malicious"], "total": 90}
            ]
            if verdict["malicious"]
            else [],
            "whois": f"Domain Name: {domain.upper()}\nRegistrar: Example Registrar",
        }
        report.update(verdict["extra"])
        return JSONResponse(report)

    async def _v3_domain(self, request: Request) -> Response:
        key = request.headers.get("x-apikey")
        if not key:
            return virustotal_error(401, "AuthenticationRequiredError", "X-Apikey header is missing")
        if key != self.api_key:
            return virustotal_error(401, "WrongCredentialsError", "Wrong API key")
        domain = request.path_params["domain"]
        verdict = self._verdict(domain)
        if verdict is None:
            return virustotal_error(404, "NotFoundError", f'Domain "{domain}" not found')
        answer = virustotal_object("domain", domain, profile(domain))
        malicious, harmless = verdict["malicious"], verdict["harmless"]
        answer["data"]["attributes"].update(
            categories={"Forcepoint ThreatSeeker": verdict["category"]},
            last_analysis_stats={"harmless": harmless, "malicious": malicious, "suspicious": 0,
                                 "undetected": 90 - harmless - malicious, "timeout": 0},
            reputation=-10 * malicious,
            **verdict["extra"],
        )
        return JSONResponse(answer)

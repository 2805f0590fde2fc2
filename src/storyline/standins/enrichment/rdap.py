"""RDAP (RFC 9083) as a domain-age lookup uses it: rdap.org's ``GET /domain/{name}`` and IANA's bootstrap file.

A registry knows registered names only, so ``www.example.com`` is a 404, as it is for real;
so is a name whose canned profile (:mod:`.profiles`) is unknown, or one given to
:meth:`Rdap.unknown`. :meth:`Rdap.register` dates a domain's registration event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.indicators import registered_domain
from storyline.standins.enrichment.profiles import OLD_REGISTRATION, Profile, profile

RDAP_BASE = "https://rdap.org/"
BOOTSTRAP_TLDS = (
    "com", "net", "org", "info", "biz", "io", "co", "me", "xyz", "top", "online", "site", "app", "dev",
    "zip", "mov", "shop", "live", "club", "uk", "de", "fr", "nl", "ru", "cn", "br", "in", "au", "eu", "us",
)  # fmt: skip


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


class Rdap:
    """rdap.org and IANA's bootstrap file, with registrations a test can date."""

    def __init__(self) -> None:
        self.registrations: dict[str, dt.datetime] = {}
        self.unknown_domains: set[str] = set()

    def register(self, domain: str, when: dt.datetime) -> None:
        """Date ``domain``'s registration; it is then known whatever its name says."""
        self.unknown_domains.discard(domain.lower())
        self.registrations[domain.lower()] = when

    def unknown(self, domain: str) -> None:
        """Make the registry answer 404 for ``domain``."""
        self.registrations.pop(domain.lower(), None)
        self.unknown_domains.add(domain.lower())

    def reset(self) -> None:
        self.registrations.clear()
        self.unknown_domains.clear()

    def routes(self) -> list[Route]:
        """rdap.org's routes (IANA's are :meth:`bootstrap_routes`)."""
        return [Route("/domain/{name}", self._domain, methods=["GET"])]

    def bootstrap_routes(self) -> list[Route]:
        return [Route("/rdap/dns.json", _bootstrap, methods=["GET"])]

    def domain(self, name: str) -> dict[str, Any] | None:
        """The RDAP domain object for ``name``, or None when the registry does not know it."""
        name = name.strip().rstrip(".").lower()
        who = profile(name)
        when = self.registrations.get(name)
        if when is not None:
            who = Profile(who.verdict, when)
        elif who.verdict == "unknown":
            return None
        if name in self.unknown_domains or registered_domain(name) != name:
            return None
        return rdap_domain(name, who)

    async def _domain(self, request: Request) -> Response:
        answer = self.domain(request.path_params["name"])
        if answer is None:
            return rdap_not_found()
        return JSONResponse(answer, media_type="application/rdap+json")


async def _bootstrap(request: Request) -> Response:
    return JSONResponse(rdap_bootstrap())

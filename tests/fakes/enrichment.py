"""VirusTotal v3, URLhaus and RDAP in one fake: the demo sandbox's answers, with scripted faults.

The routes are ``storyline.standins.enrichment``'s, so tests and ``serve --demo`` agree on every
answer: a name containing ``evil`` is malicious, ``sus`` suspicious, ``unknown`` unknown,
``new`` registered 3 days ago (see that module). Each service sits under its own prefix;
``overrides()`` gives the egress overrides for the real hosts, and faults take the
prefixed path::

    with FakeEnrichment() as intel:
        egress = Egress(intel.overrides())
        intel.throttle(path="/virustotal")          # VirusTotal answers 429 once
        intel.hang(10, path="/urlhaus")             # URLhaus says nothing for 10 s
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from storyline.sandbox import HOSTS
from storyline.standins import enrichment
from tests.fakes.server import ASGIApp, FakeServer


class FakeEnrichment(FakeServer):
    rate_limit_body = {"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}

    def build_app(self) -> ASGIApp:
        return Starlette(routes=[Mount(f"/{service}", routes=routes) for service, routes in enrichment.routes().items()])

    def overrides(self) -> dict[str, str]:
        """Egress overrides sending www.virustotal.com, urlhaus-api.abuse.ch, rdap.org and data.iana.org here."""
        services = enrichment.routes()
        return {host: f"{self.url}/{service}" for host, service in HOSTS.items() if service in services}

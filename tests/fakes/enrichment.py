"""VirusTotal v3, URLhaus and RDAP in one fake: :class:`storyline.standins.enrichment.Enrichment`, as ``serve --demo`` serves it.

So tests and the demo agree on every answer: a name containing ``evil`` is malicious, ``sus``
suspicious, ``unknown`` unknown, ``new`` registered 3 days ago (see
``storyline.standins.enrichment.profiles``); ``.virustotal``, ``.urlhaus`` and ``.rdap`` take
per-indicator answers. Each service sits under its own prefix; ``overrides()`` gives the egress
overrides for the real hosts, and faults take the prefixed path::

    with FakeEnrichment() as intel:
        egress = Egress(intel.overrides())
        intel.throttle(path="/virustotal")          # VirusTotal answers 429 once
        intel.hang(10, path="/urlhaus")             # URLhaus says nothing for 10 s
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from storyline.sandbox import HOSTS
from storyline.standins.enrichment import Enrichment
from storyline.standins.enrichment.virustotal import QUOTA_EXCEEDED
from tests.fakes.server import ASGIApp, FakeServer


class FakeEnrichment(Enrichment, FakeServer):
    rate_limit_body = QUOTA_EXCEEDED

    def __init__(self) -> None:
        Enrichment.__init__(self)
        FakeServer.__init__(self)

    def build_app(self) -> ASGIApp:
        return Starlette(routes=[Mount(f"/{service}", routes=routes) for service, routes in self.routes().items()])

    def reset(self) -> None:
        FakeServer.reset(self)
        Enrichment.reset(self)

    def overrides(self) -> dict[str, str]:
        """Egress overrides sending www.virustotal.com, urlhaus-api.abuse.ch, rdap.org and data.iana.org here."""
        services = self.routes()
        return {host: f"{self.url}/{service}" for host, service in HOSTS.items() if service in services}

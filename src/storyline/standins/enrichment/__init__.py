"""VirusTotal, URLhaus and RDAP as stand-ins: deterministic answers in each service's own wire protocol.

One module per source (:mod:`.virustotal`, :mod:`.urlhaus`, :mod:`.rdap`, and :mod:`.domain_age`
for ipty.de, which only the article stories call); :mod:`.profiles` holds the canned data they
share, so every source agrees on what a name means (``evil`` malicious, ``new`` registered 3 days
ago ...). :class:`Enrichment` is what ``serve --demo`` serves; the test fakes serve the same
classes on a free port and set per-indicator answers on them. Response shapes follow the
vendors' documentation and recorded answers (see the enrichment notes).
"""

from __future__ import annotations

from starlette.routing import Route

from storyline.standins.enrichment.rdap import Rdap
from storyline.standins.enrichment.urlhaus import Urlhaus
from storyline.standins.enrichment.virustotal import VirusTotal


class Enrichment:
    """The enrichment sources the demo plays, with any key accepted unless one is given."""

    def __init__(self, *, virustotal_key: str | None = None, urlhaus_key: str | None = None) -> None:
        self.virustotal = VirusTotal(virustotal_key)
        self.urlhaus = Urlhaus(urlhaus_key)
        self.rdap = Rdap()

    def reset(self) -> None:
        self.virustotal.reset()
        self.urlhaus.reset()
        self.rdap.reset()

    def routes(self) -> dict[str, list[Route]]:
        """Routes per impersonated service (mounted under ``/_sandbox/<service>`` by the demo)."""
        return {
            "virustotal": self.virustotal.routes(),
            "urlhaus": self.urlhaus.routes(),
            "rdap": self.rdap.routes(),
            "iana": self.rdap.bootstrap_routes(),
        }

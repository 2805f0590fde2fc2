"""ipty.de's domain age API (``GET /domage/api.php?domain=&mode=full``), as the 2019 Slack chatbot story reads it.

The answer carries ``result.creation.fulldays``: the days since the domain was registered, from
its canned profile (:mod:`.profiles`, so it agrees with RDAP) unless ``ages`` gives a number.
``serve --demo`` does not play this host: it is a one-person hobby service that no pack story
uses (see the enrichment notes); the article stories' tests do.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.standins.enrichment.profiles import profile


class DomainAge:
    """ipty.de's ``domage`` API, with ages in days a test can set."""

    def __init__(self) -> None:
        self.ages: dict[str, int] = {}
        """Days since registration per domain, instead of the canned profile's."""

    def reset(self) -> None:
        self.ages.clear()

    def routes(self) -> list[Route]:
        return [Route("/domage/api.php", self._age, methods=["GET"])]

    def days(self, domain: str, now: float | None = None) -> int:
        domain = domain.lower()
        if domain in self.ages:
            return self.ages[domain]
        clock = time.time() if now is None else now
        return int((clock - profile(domain, clock).registered.timestamp()) // 86400)

    async def _age(self, request: Request) -> Response:
        # The story's URL ends in "?domain=" and its payload adds domain again: the last one counts.
        domains = [d for d in request.query_params.getlist("domain") if d]
        if not domains:
            return JSONResponse({"error": "no domain given"}, status_code=400)
        domain = domains[-1].lower()
        days = self.days(domain)
        return JSONResponse({"result": {"domain": domain, "input": domain, "tld": domain.rsplit(".", 1)[-1],
                                        "mode": request.query_params.get("mode", "simple"),
                                        "creation": {"fulldays": days, "years": days // 365, "days": days % 365}}})

"""ipty.de's domain age API (``GET /domage/api.php?domain=&mode=full``), as the Slack chatbot reads it.

The answer carries ``result.creation.fulldays``: the days since the domain was registered,
``ages[domain]`` or ``default_days``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer


class FakeDomainAge(FakeServer):
    """Point ``ipty.de`` at ``.url`` through egress overrides."""

    host_name = "ipty.de"

    def __init__(self, default_days: int = 4000) -> None:
        self.default_days = default_days
        self.ages: dict[str, int] = {}
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.ages.clear()

    def build_app(self) -> ASGIApp:
        return Starlette(routes=[Route("/domage/api.php", self._age, methods=["GET"])])

    async def _age(self, request: Request) -> Response:
        # The story's URL ends in "?domain=" and its payload adds domain again: the last one counts.
        domains = [d for d in request.query_params.getlist("domain") if d]
        if not domains:
            return JSONResponse({"error": "no domain given"}, status_code=400)
        domain = domains[-1].lower()
        days = self.ages.get(domain, self.default_days)
        return JSONResponse({"result": {"domain": domain, "mode": request.query_params.get("mode", "simple"),
                                        "creation": {"fulldays": days, "years": days // 365}}})

"""ipty.de for tests: :class:`storyline.standins.enrichment.domain_age.DomainAge` on a free port.

``ages[domain] = days`` sets what ``result.creation.fulldays`` says; other domains answer their
canned profile (``new`` 3 days old, others registered in 2009), as RDAP does.
"""

from __future__ import annotations

from starlette.applications import Starlette

from storyline.standins.enrichment.domain_age import DomainAge
from tests.fakes.server import ASGIApp, FakeServer


class FakeDomainAge(DomainAge, FakeServer):
    """Point ``ipty.de`` at ``.url`` through egress overrides."""

    host_name = "ipty.de"

    def __init__(self) -> None:
        DomainAge.__init__(self)
        FakeServer.__init__(self)

    def build_app(self) -> ASGIApp:
        return Starlette(routes=self.routes())

    def reset(self) -> None:
        FakeServer.reset(self)
        DomainAge.reset(self)

"""URLhaus for tests: :class:`storyline.standins.enrichment.urlhaus.Urlhaus` (what ``serve --demo`` plays) on a free port.

As the 2019 stories knew it, it wants no ``Auth-Key`` (one that is sent is recorded in
``calls`` like any header). A host given to ``add_host()`` is listed with those URLs; any
other answers its canned profile (``evil`` listed, most ``no_results``).
"""

from __future__ import annotations

from starlette.applications import Starlette

from storyline.standins.enrichment.urlhaus import Urlhaus
from tests.fakes.server import ASGIApp, FakeServer


class FakeUrlhaus(Urlhaus, FakeServer):
    """Point ``urlhaus-api.abuse.ch`` at ``.url`` through egress overrides."""

    host_name = "urlhaus-api.abuse.ch"

    def __init__(self) -> None:
        Urlhaus.__init__(self, keyless=True)
        FakeServer.__init__(self)

    def build_app(self) -> ASGIApp:
        return Starlette(routes=self.routes())

    def reset(self) -> None:
        FakeServer.reset(self)
        Urlhaus.reset(self)

"""VirusTotal for tests: :class:`storyline.standins.enrichment.virustotal.VirusTotal` (what ``serve --demo`` plays) on a free port.

v3 (``x-apikey``) and v2 (``apikey=``) both check the key: only ``api_key`` is accepted. Every
domain answers its canned profile (``evil`` malicious ...) unless ``set_domain()`` gives it a
category and engine counts or ``unknown()`` makes it "not found". Faults (429 with
``QuotaExceededError``, 5xx, hang) come from ``FakeServer``.
"""

from __future__ import annotations

from starlette.applications import Starlette

from storyline.standins.enrichment.virustotal import QUOTA_EXCEEDED, VirusTotal
from tests.fakes.server import ASGIApp, FakeServer


class FakeVirusTotal(VirusTotal, FakeServer):
    """Point ``www.virustotal.com`` at ``.url`` through egress overrides."""

    host_name = "www.virustotal.com"
    rate_limit_body = QUOTA_EXCEEDED

    def __init__(self, api_key: str = "vt-test-key") -> None:
        VirusTotal.__init__(self, api_key)
        FakeServer.__init__(self)

    def build_app(self) -> ASGIApp:
        return Starlette(routes=self.routes())

    def reset(self) -> None:
        FakeServer.reset(self)
        VirusTotal.reset(self)

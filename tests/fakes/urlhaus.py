"""URLhaus host lookups (``POST /v1/host/``, form field ``host``), shaped like abuse.ch's answers.

A host listed with ``add_host()`` answers ``query_status: ok`` with its URLs (``url_count``
is a string, as the real API sends it); any other host answers ``no_results``. The 2019
stories send no ``Auth-Key``; one that does is recorded in ``calls`` like any header.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ASGIApp, FakeServer


class FakeUrlhaus(FakeServer):
    """Point ``urlhaus-api.abuse.ch`` at ``.url`` through egress overrides."""

    host_name = "urlhaus-api.abuse.ch"

    def __init__(self) -> None:
        self.hosts: dict[str, list[str]] = {}
        super().__init__()

    def add_host(self, host: str, *urls: str) -> None:
        self.hosts[host.lower()] = list(urls) or [f"http://{host}/payload.exe"]

    def reset(self) -> None:
        super().reset()
        self.hosts.clear()

    def build_app(self) -> ASGIApp:
        return Starlette(routes=[Route("/v1/host/", self._host, methods=["POST"])])

    async def _host(self, request: Request) -> Response:
        host = dict(parse_qsl((await request.body()).decode())).get("host", "").lower()
        if not host:
            return JSONResponse({"query_status": "invalid_host"})
        urls = self.hosts.get(host)
        if urls is None:
            return JSONResponse({"query_status": "no_results"})
        return JSONResponse({
            "query_status": "ok", "host": host, "firstseen": "2024-01-01 00:00:00 UTC",
            "url_count": str(len(urls)), "blacklists": {"spamhaus_dbl": "abused_legit_malware"},
            "urls": [{"url": url, "url_status": "online", "threat": "malware_download"} for url in urls],
        })

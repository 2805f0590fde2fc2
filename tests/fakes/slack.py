"""Slack for tests: :class:`storyline.standins.slack.Slack` (what ``serve --demo`` plays) on a free port.

Point both ``slack.com`` and ``hooks.slack.com`` at ``.url``. The bot token is checked
(``invalid_auth`` for another) and only users given to ``add_user`` (or ``users=``) exist.
Every request is in ``calls``; ``error(method, code)`` scripts an ``ok: false`` answer,
``throttle()`` a 429 with Retry-After and ``{"ok": false, "error": "ratelimited"}``.
``signed(body)`` gives the headers Slack signs an inbound request with, under ``signing_secret``.
"""

from __future__ import annotations

from typing import Any

from storyline.standins.slack import Slack
from storyline.verifiers.slack import sign
from tests.fakes.server import ASGIApp, Call, FakeServer, Fault


class FakeSlack(Slack, FakeServer):
    """A Slack stand-in with a bot token, a user directory and a message log."""

    host_name = "slack.com"
    rate_limit_body = {"ok": False, "error": "ratelimited"}

    def __init__(
        self, token: str = "xoxb-test-token", *, users: dict[str, dict[str, Any]] | None = None,
        signing_secret: str = "slack-signing-secret",
    ) -> None:
        Slack.__init__(self, token, users=users)
        self.signing_secret = signing_secret
        FakeServer.__init__(self)

    def build_app(self) -> ASGIApp:
        return self.asgi()

    def reset(self) -> None:
        FakeServer.reset(self)
        Slack.reset(self)

    def signed(self, body: bytes | str, timestamp: float | None = None) -> dict[str, str]:
        """Headers for an inbound request as Slack signs it (``timestamp`` defaults to now)."""
        raw = body.encode() if isinstance(body, str) else body
        return {name.lower(): value for name, value in sign(self.signing_secret, raw, timestamp).items()}

    def error(self, method: str, code: str, *, times: int | None = 1) -> Fault:
        """Answer the next call(s) of a Web API method with HTTP 200 and ``ok: false``."""
        return self.fail(200, times=times, path=f"/api/{method}", json={"ok": False, "error": code})

    def calls_of(self, method: str) -> list[Call]:
        """The calls of one Web API method, e.g. ``calls_of("chat.postMessage")``."""
        return self.calls_to(f"/api/{method}")

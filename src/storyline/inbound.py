"""What a webhook's ``verification`` kinds share: the request they check, what they make of it, how they refuse.

A leaf, importing nothing of storyline: the kinds live where their sender's knowledge
lives (``storyline.verifiers.hmac``, ``storyline.verifiers.slack``,
``storyline.verifiers.teams``), ``storyline.actions.plugins`` lists them, and
``storyline.engine.intake`` runs them; all three meet here without reaching each other.
Which HTTP status each refusal gets is decided in ``storyline.engine.intake`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Render = Callable[[Any, str], Any]
"""Renders one option value (the second argument names it for errors) through the runtime scope."""


class VerificationFailed(Exception):
    """The request does not prove where it came from; the message says why (never a secret)."""


class BadRequest(ValueError):
    """The request body cannot be read as the content type it claims; sending it again cannot help."""


class Misconfigured(Exception):
    """The webhook's own options cannot check this request (a secret rendered empty, keys out of reach)."""


class Fetcher(Protocol):
    """Outbound HTTP as a verifier needs it: ``storyline.egress.client.Egress``, overrides and all."""

    def resolve(self, url: str) -> str: ...

    async def request(self, method: str, url: str) -> Any: ...


@dataclass(frozen=True)
class Signed:
    """A request as a verifier sees it: the bytes exactly as received."""

    headers: Mapping[str, str]
    body: bytes
    now: float
    # For senders whose proof needs keys from elsewhere (Teams: Microsoft's signing keys).
    egress: Fetcher | None = None
    # Where a Teams activity may send its replies (``Settings.teams_service_hosts``); None: the default hosts.
    service_hosts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Inbound:
    """What a verifier made of a request it accepted.

    ``answer``: reply with this (status, JSON or text body) and record nothing (a URL
    handshake, a health check). ``body``: the request as the event carries it, instead
    of the generic parse. ``once``: what identifies this delivery; a repeat within an
    hour is answered 200 and records nothing. ``ack``: the reply (status, text) when
    the webhook sets no ``response``/``response_code`` of its own. ``prompt``: a
    ``{% prompt %}`` URL a chat button carried; the click answers that prompt in its
    own story run (``body`` says who clicked) instead of starting a new run here.
    """

    answer: tuple[int, Any] | None = None
    body: Any = None
    once: str | None = None
    ack: tuple[int, str] | None = None
    prompt: str | None = None


class Verifier(Protocol):
    """One ``verification.type``: checks its options at import and each request when it arrives."""

    def validate(self, spec: Mapping[str, Any]) -> list[str]: ...

    async def verify(self, spec: Mapping[str, Any], request: Signed, render: Render) -> Inbound | None:
        """Raise VerificationFailed unless the request passes; BadRequest if it cannot be read."""
        ...

    def event(self, parsed: Any) -> Any:
        """The verified request as the story sees it: a chat platform's kind may reshape its own wire format."""
        ...

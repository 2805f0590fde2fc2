"""How a webhook checks that a request comes from its sender: the ``verification`` option.

A registry keyed by ``type``. Each kind validates its own options (at import, naming
the option) and checks a request's raw body and headers when it arrives; the web
layer answers 401 and records nothing when the check fails. ``hmac`` is the generic
kind (GitHub, Stripe-like senders); the chat platforms' own schemes plug in with
:func:`register` the same way. A verifier that knows its sender's protocol may also
say what the request means (an :class:`Inbound`): a handshake to answer without an
event, the body as the event should carry it, what identifies a retried delivery.

Secrets are options like any other, so ``{% credential x %}`` works: the web layer
hands in ``render``, which goes through the runtime scope.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from storyline.actions.base import ActionError

if TYPE_CHECKING:
    from storyline.config import Settings
    from storyline.egress.client import Egress

Render = Callable[[Any, str], Any]
"""Renders one option value (the second argument names it for errors) through the runtime scope."""


class VerificationFailed(Exception):
    """The request does not prove where it came from; the message says why (never a secret)."""


@dataclass(frozen=True)
class Signed:
    """A request as a verifier sees it: the bytes exactly as received."""

    headers: Mapping[str, str]
    body: bytes
    now: float
    # For senders whose proof needs keys from elsewhere (Teams: Microsoft's signing keys).
    egress: Egress | None = None
    settings: Settings | None = None


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
    def validate(self, spec: Mapping[str, Any]) -> list[str]: ...

    async def verify(self, spec: Mapping[str, Any], request: Signed, render: Render) -> Inbound | None: ...


VERIFIERS: dict[str, Verifier] = {}


def register(kind: str, verifier: Verifier) -> None:
    VERIFIERS[kind] = verifier


def validate(spec: Any) -> list[str]:
    if not isinstance(spec, Mapping):
        return ["option 'verification' must be an object with a 'type' (one of " + ", ".join(VERIFIERS) + ")"]
    verifier = VERIFIERS.get(str(spec.get("type")))
    if verifier is None:
        return [f"option 'verification.type' must be one of {', '.join(VERIFIERS)} (got {spec.get('type')!r})"]
    return verifier.validate(spec)


async def verify(spec: Mapping[str, Any], request: Signed, render: Render) -> Inbound | None:
    """Raise VerificationFailed unless the request passes the webhook's verification."""
    return await VERIFIERS[str(spec["type"])].verify(spec, request, render)


def event(spec: Mapping[str, Any], parsed: Any) -> Any:
    """The verified request as the story sees it: a chat platform's kind may reshape its own wire format."""
    reshape = getattr(VERIFIERS[str(spec["type"])], "event", None)
    return parsed if reshape is None else reshape(parsed)


class Hmac:
    """``{"type": "hmac", "header", "secret", "algorithm", "prefix", "encoding"}`` over the raw body.

    The header must hold ``prefix`` + the HMAC of the body under ``secret``, as hex
    (default) or base64; ``algorithm`` is sha256 unless set.
    """

    ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
    ENCODINGS = ("hex", "base64")

    def validate(self, spec: Mapping[str, Any]) -> list[str]:
        problems = []
        for name in ("header", "secret"):
            if not isinstance(spec.get(name), str) or not spec[name].strip():
                problems.append(f"option 'verification.{name}' is required for hmac verification (text)")
        algorithm = spec.get("algorithm", "sha256")
        if algorithm not in self.ALGORITHMS:
            problems.append(f"option 'verification.algorithm' must be one of {', '.join(self.ALGORITHMS)} "
                            f"(got {algorithm!r})")
        encoding = spec.get("encoding", "hex")
        if encoding not in self.ENCODINGS:
            problems.append(f"option 'verification.encoding' must be one of {', '.join(self.ENCODINGS)} "
                            f"(got {encoding!r})")
        if not isinstance(spec.get("prefix", ""), str):
            problems.append("option 'verification.prefix' must be text, e.g. \"sha256=\"")
        return problems

    async def verify(self, spec: Mapping[str, Any], request: Signed, render: Render) -> None:
        header = str(spec["header"])
        received = request.headers.get(header)
        if not received:
            raise VerificationFailed(f"missing signature header {header}")
        secret = str(render(spec["secret"], "verification.secret") or "")
        if not secret:
            # An empty key would let anyone sign; refuse rather than accept everything.
            raise ActionError("option 'verification.secret' rendered empty")
        digest = hmac.new(secret.encode(), request.body, str(spec.get("algorithm", "sha256"))).digest()
        encoding = spec.get("encoding", "hex")
        signature = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
        expected = str(spec.get("prefix", "")) + signature
        given = received.strip()
        if encoding == "hex":
            expected, given = expected.lower(), given.lower()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise VerificationFailed(f"signature in header {header} does not match the body")


register("hmac", Hmac())

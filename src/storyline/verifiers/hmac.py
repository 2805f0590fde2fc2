"""``verification: {"type": "hmac", ...}``: the generic proof of a sender (GitHub, Stripe-like senders).

Secrets are options like any other, so ``{% credential x %}`` works: the intake hands
in ``render``, which goes through the runtime scope.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Any

from storyline.inbound import Misconfigured, Render, Signed, VerificationFailed


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
            raise Misconfigured("option 'verification.secret' rendered empty")
        digest = hmac.new(secret.encode(), request.body, str(spec.get("algorithm", "sha256"))).digest()
        encoding = spec.get("encoding", "hex")
        signature = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
        expected = str(spec.get("prefix", "")) + signature
        given = received.strip()
        if encoding == "hex":
            expected, given = expected.lower(), given.lower()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise VerificationFailed(f"signature in header {header} does not match the body")

    def event(self, parsed: Any) -> Any:
        return parsed

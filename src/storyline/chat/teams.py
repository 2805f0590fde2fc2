"""Acting as Microsoft's Bot Connector locally: the signing key, and the ``storyline chat teams`` console.

A Teams bot can only be reached through the Bot Connector, which signs each activity
with a key Microsoft publishes. ``ConnectorKey`` signs activities the same way and
publishes its own key set, so a storyline server whose egress overrides point
``login.botframework.com`` here accepts them exactly as it would accept Microsoft's:
nothing in the server is switched off for the console.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from storyline.chat.botframework import ALGORITHM, ISSUER

KEYS_PATH = "/v1/.well-known/keys"
OPENID_PATH = "/v1/.well-known/openidconfiguration"


class ConnectorKey:
    """An RSA key that signs activity tokens as the Bot Connector does, and its JWKS."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        public = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(public).digest()[:15]).decode()

    @classmethod
    def generate(cls) -> ConnectorKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, path: Path) -> ConnectorKey:
        """The same key across runs, so a server that cached it need not fetch the key set again."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return cls(key)
        made = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(made.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        path.chmod(0o600)
        return made

    def jwks(self, endorsements: tuple[str, ...] = ("msteams",)) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "endorsements": list(endorsements)}]}

    def sign(self, app_id: str, service_url: str, *, lifetime: float = 300, now: float | None = None,
             **claims: Any) -> str:
        """A token for an activity to ``app_id`` from ``service_url``; ``claims`` override or add any claim."""
        issued = time.time() if now is None else now
        payload = {"iss": ISSUER, "aud": app_id, "serviceurl": service_url, "nbf": int(issued),
                   "exp": int(issued + lifetime), **claims}
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


def openid_configuration() -> dict[str, Any]:
    """The metadata document as Microsoft serves it; egress overrides send its jwks_uri to the same place."""
    return {"issuer": ISSUER, "jwks_uri": f"https://login.botframework.com{KEYS_PATH}",
            "id_token_signing_alg_values_supported": [ALGORITHM]}

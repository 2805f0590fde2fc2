"""Credentials at rest: the secret part sealed with AES-GCM under a sub-key of the master key.

A sealed secret is a 12-byte nonce followed by the AES-GCM ciphertext of a JSON
object. The credential's name is the associated data, so a ciphertext copied onto
another credential does not open. The key is derived from the master key
(``keys.py``) for this purpose only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storyline.credentials.keys import SecretKeyError, derive, key_source, load_key

NONCE_BYTES = 12


class CredentialKeyError(SecretKeyError):
    """Stored credentials do not decrypt with the configured key."""


class Cipher:
    """Seals and opens the secret parts with the credentials sub-key of the master key."""

    def __init__(self, master_key: bytes | None, source: str = "STORYLINE_SECRET_KEY") -> None:
        self._aead = AESGCM(derive(master_key, "credentials")) if master_key is not None else None
        self.source = source

    @classmethod
    def for_database(cls, database_url: str, *, create: bool = True) -> Cipher:
        return cls(load_key(database_url, create=create), key_source(database_url))

    def seal(self, name: str, secret: Mapping[str, Any]) -> bytes:
        if self._aead is None:
            raise CredentialKeyError(f"no secret key ({self.source}) to encrypt credential '{name}' with")
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, orjson.dumps(secret), name.encode())

    def open(self, name: str, blob: bytes) -> dict[str, Any]:
        if self._aead is None:
            raise CredentialKeyError(f"cannot decrypt credentials: there is no secret key ({self.source})")
        try:
            plain = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], name.encode())
        except InvalidTag:
            raise CredentialKeyError(
                f"cannot decrypt credentials: {self.source} does not match the key they were stored with "
                f"(credential '{name}' fails to decrypt). Set the original key; nothing was changed."
            ) from None
        value = orjson.loads(plain)
        assert isinstance(value, dict)
        return value

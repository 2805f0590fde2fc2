"""Credentials at rest: the secret parts AES-GCM encrypted, the rest in plain JSON.

A row's ``secret`` is a 12-byte nonce followed by the AES-GCM ciphertext of a JSON
object. The credential's name is the associated data, so a ciphertext copied onto
another row does not decrypt. The key is derived from the master key
(``store/keys.py``) for this purpose only.

Kinds:

* ``text``: ``{"value": ...}``.
* ``oauth2``: OAuth2 client credentials; ``client_secret`` is secret, ``token_url``,
  ``client_id`` and ``scope`` are settings. The token is fetched when first used.
* ``http_request``: an HTTP Request action's options (secret: they often carry a
  password or API key) whose response yields the value at ``token_path``, kept
  ``ttl`` seconds.

Every kind may carry ``allowed_hosts`` (host names, ``*.`` wildcards) in its settings.
"""

from __future__ import annotations

import fnmatch
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from storyline.store import tables as t
from storyline.store.keys import SecretKeyError, derive, key_source, load_key

KINDS = ("text", "oauth2", "http_request")
NONCE_BYTES = 12
DEFAULT_TTL = 3600.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class CredentialKeyError(SecretKeyError):
    """Stored credentials do not decrypt with the configured key."""


@dataclass(frozen=True)
class Credential:
    name: str
    kind: str
    secret: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(self.settings.get("allowed_hosts") or ())

    def allows(self, host: str) -> bool:
        """Whether the credential may be sent to ``host``; any host when no allow-list is set."""
        hosts = self.allowed_hosts
        host = host.lower().rstrip(".")
        return not hosts or any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in hosts)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(f"credential name {name!r} must be letters, digits, '_' or '-' "
                         "(templates reach it as CREDENTIAL.<name>)")
    return name


def _printable(name: str, what: str, value: str) -> str:
    """Refuse a value with a control character: credentials travel in headers and URLs, where a
    line break (a value pasted or read from a file with its newline) breaks every request."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        kind = "a line break" if bad in "\r\n" else f"a control character (U+{ord(bad):04X})"
        raise ValueError(f"credential '{name}': {what} contains {kind}, which cannot be sent in a header or URL; "
                         "remove it and set the credential again")
    return value


def _hosts(allowed_hosts: Sequence[str] | None) -> dict[str, Any]:
    hosts = [h.strip().lower() for h in allowed_hosts or () if h.strip()]
    bad = [h for h in hosts if "/" in h or ":" in h]
    if bad:
        raise ValueError(f"allowed host {bad[0]!r} must be a host name such as api.example.com or *.example.com")
    return {"allowed_hosts": hosts} if hosts else {}


def _http_url(option: str, url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url or ""):
        raise ValueError(f"{option} must be an http:// or https:// URL (got {url!r})")
    return url


def text(name: str, value: str, *, allowed_hosts: Sequence[str] | None = None) -> Credential:
    if not value:
        raise ValueError(f"credential '{name}': the value is empty")
    return Credential(check_name(name), "text", {"value": _printable(name, "the value", value)},
                      _hosts(allowed_hosts))


def oauth2(
    name: str, *, token_url: str, client_id: str, client_secret: str, scope: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Credential:
    if not client_id or not client_secret:
        raise ValueError(f"credential '{name}': OAuth2 client credentials need --client-id and --client-secret")
    settings: dict[str, Any] = {"token_url": _http_url("--token-url", token_url),
                                "client_id": _printable(name, "the client id", client_id)}
    if scope:
        settings["scope"] = scope
    return Credential(check_name(name), "oauth2", {"client_secret": _printable(name, "the client secret", client_secret)},
                      {**settings, **_hosts(allowed_hosts)})


def http_request(
    name: str, *, options: Mapping[str, Any], token_path: str, ttl: float = DEFAULT_TTL,
    allowed_hosts: Sequence[str] | None = None,
) -> Credential:
    from storyline.actions import http_request as action

    if not isinstance(options, Mapping):
        raise ValueError(f"credential '{name}': the request must be a JSON object of HTTP Request options")
    problems = action.validate(options)
    if problems:
        raise ValueError(f"credential '{name}': request {problems[0]}")
    if not token_path or not token_path.strip():
        raise ValueError(f"credential '{name}': --token-path is required (e.g. body.access_token)")
    if ttl <= 0:
        raise ValueError(f"credential '{name}': --ttl must be a positive number of seconds")
    settings = {"token_path": token_path.strip(), "ttl": float(ttl), **_hosts(allowed_hosts)}
    return Credential(check_name(name), "http_request", {"options": dict(options)}, settings)


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


def save_credential(conn: Connection, cipher: Cipher, credential: Credential, now: float) -> None:
    """Create or replace; refuses (``CredentialKeyError``) when the key does not open the stored ones."""
    load_credentials(conn, cipher)
    c = t.credentials.c
    values = {
        "kind": credential.kind,
        "secret": cipher.seal(credential.name, credential.secret),
        "settings": dict(credential.settings),
        "updated_at": now,
    }
    updated = conn.execute(t.credentials.update().where(c.name == credential.name).values(**values)).rowcount
    if not updated:
        conn.execute(t.credentials.insert().values(name=credential.name, created_at=now, **values))


def delete_credential(conn: Connection, name: str) -> bool:
    return conn.execute(t.credentials.delete().where(t.credentials.c.name == name)).rowcount > 0


def list_credentials(conn: Connection) -> list[dict[str, Any]]:
    """Names, kinds and where they may be sent: never a secret part."""
    c = t.credentials.c
    rows = conn.execute(sa.select(c.name, c.kind, c.settings, c.updated_at).order_by(c.name)).all()
    return [
        {"name": row.name, "kind": row.kind, "allowed_hosts": list((row.settings or {}).get("allowed_hosts") or [])}
        for row in rows
    ]


def load_credentials(conn: Connection, cipher: Cipher) -> dict[str, Credential]:
    c = t.credentials.c
    rows = conn.execute(sa.select(c.name, c.kind, c.secret, c.settings)).all()
    return {
        row.name: Credential(row.name, row.kind, cipher.open(row.name, bytes(row.secret)), row.settings or {})
        for row in rows
    }


def version(conn: Connection) -> tuple[object, ...]:
    """Changes when a credential or resource is set or deleted (see ``engine/vault.py``)."""
    out: list[object] = []
    for table in (t.credentials, t.resources):
        out.extend(conn.execute(sa.select(sa.func.count(), sa.func.max(table.c.updated_at))).one())
    return tuple(out)

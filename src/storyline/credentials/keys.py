"""The secret key that encrypts credentials and signs prompt URLs.

From ``STORYLINE_SECRET_KEY`` (base64 of 32 bytes), or generated once into a 0600
key file beside a SQLite database (``storyline.db.key``). Losing it makes stored
credentials unreadable, so the first run says to back it up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

KEY_BYTES = 32
BROWSER_KEY = "browser"
"""The purpose of the sub-key that signs CSRF tokens and the first admin's setup link."""


class SecretKeyError(Exception):
    """The key is missing or malformed; the message says what to do."""


_KEY_ADVICE = ("set the key the credentials were saved with, or, if none were, a new one from "
                  "`storyline key generate`")


def _decode(raw: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except ValueError as exc:
        raise SecretKeyError(f"{where} is not base64 ({exc}); {_KEY_ADVICE}") from exc
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"{where} must decode to {KEY_BYTES} bytes, not {len(key)}; {_KEY_ADVICE}")
    return key


def new_key() -> str:
    """A fresh key in the form ``STORYLINE_SECRET_KEY`` and the key file take (unpadded URL-safe base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def key_file_for(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().with_name(Path(url.database).name + ".key")


def key_source(database_url: str) -> str:
    """Where the key comes from, for messages that tell the user which key to fix."""
    if os.environ.get("STORYLINE_SECRET_KEY"):
        return "STORYLINE_SECRET_KEY"
    path = key_file_for(database_url)
    return f"the key file {path}" if path is not None else "STORYLINE_SECRET_KEY (not set)"


def load_key(database_url: str, *, create: bool = True) -> bytes:
    """The master key: from the environment, else the key file beside a SQLite database."""
    raw = os.environ.get("STORYLINE_SECRET_KEY")
    if raw:
        return _decode(raw, "STORYLINE_SECRET_KEY")
    path = key_file_for(database_url)
    if path is None:
        raise SecretKeyError("set STORYLINE_SECRET_KEY (base64 of 32 random bytes, from `storyline key generate`) "
                             "when the database is not a SQLite file; every storyline process sharing the "
                             "database needs the same key")
    if path.exists():
        return _decode(path.read_text(), str(path))
    if not create:
        raise SecretKeyError(f"no key file at {path} and STORYLINE_SECRET_KEY is not set")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key() + "\n")
    print(f"storyline: created the secret key {path}; back it up: without it stored credentials "
          "cannot be read", file=sys.stderr)
    return _decode(path.read_text(), str(path))


def derive(key: bytes, purpose: str) -> bytes:
    """A sub-key per purpose (credentials, prompts), so one use never weakens another."""
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()

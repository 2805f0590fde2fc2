"""What a credential is: a named secret, its kind, and where it may be sent.

Kinds:

* ``text``: ``{"value": ...}``.
* ``oauth2``: OAuth2 client credentials; ``client_secret`` is secret, ``token_url``,
  ``client_id`` and ``scope`` are settings. The token is fetched when first used
  (``tokens.py``).
* ``http_request``: an HTTP Request action's options (secret: they often carry a
  password or API key) whose response yields the value at ``token_path``, kept
  ``ttl`` seconds.

Every kind may carry ``allowed_hosts`` (host names, ``*.`` wildcards) in its settings.
The secret part is what ``cipher.py`` encrypts at rest; the settings are stored as
plain JSON (``stored.py``).
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("text", "oauth2", "http_request")
DEFAULT_TTL = 3600.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


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
    if not isinstance(options, Mapping):
        raise ValueError(f"credential '{name}': the request must be a JSON object of HTTP Request options")
    # Here, not at the top: the actions bring the templating engine, which listing or reading
    # credentials (every CLI credential command, the vault) does not need.
    from storyline.actions import http_request as action

    problems = action.validate(options)
    if problems:
        # Without the "(got ...)" quote: these options are the secret part.
        raise ValueError(f"credential '{name}': request {problems[0].split(' (got ', 1)[0]}")
    if not token_path or not token_path.strip():
        raise ValueError(f"credential '{name}': --token-path is required (e.g. body.access_token)")
    if ttl <= 0:
        raise ValueError(f"credential '{name}': --ttl must be a positive number of seconds")
    settings = {"token_path": token_path.strip(), "ttl": float(ttl), **_hosts(allowed_hosts)}
    return Credential(check_name(name), "http_request", {"options": dict(options)}, settings)

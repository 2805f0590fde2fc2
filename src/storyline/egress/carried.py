"""Credentials on the way out: the secrets a request carries go where they may, on every hop.

A request carries credential values in headers, the query and the body, and httpx
follows redirects with them: it drops ``Authorization`` on a hop to another origin
and nothing else, so ``X-Key: <api key>`` went wherever the upstream pointed. The
request therefore travels with the values it carries (``Carried``) and the egress
hook holds each hop to them (``Passage.hop``):

* A credential with allowed hosts may reach those hosts only, on the first hop and on
  every redirect. A hop anywhere else is refused before anything is sent there,
  naming the credential and the host; asking again will not help. So is a redirect
  from https to plain http, even to an allowed host: anyone on the way would read it.
* A credential without allowed hosts goes wherever the story sends it, but a redirect
  to another origin is the upstream's choice, not the story's: on that hop every
  header, query parameter and body field that holds its value, in any written form
  (``basic_auth``'s base64 included), is dropped. A body that cannot lose a field
  (text, XML, multipart) is not re-sent to another origin: that redirect is refused.

Same origin follows httpx: scheme, host and port, or an upgrade from http to https
on the same host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson

from storyline.egress.redaction import Redactor


def _anywhere(host: str) -> bool:
    return True


@dataclass(frozen=True)
class Carried:
    """A credential value on a request: ``name`` for messages (never the value), and where it may go.

    ``allowed_hosts`` is the restriction as the operator wrote it (empty: none) and
    ``allows`` decides whether a host matches it, so egress need not know how
    credentials spell their patterns.
    """

    name: str
    value: str
    allowed_hosts: tuple[str, ...] = ()
    allows: Callable[[str], bool] = _anywhere


class NotAllowed(Exception):
    """A hop would take a credential where it may not go. Permanent: the same request is refused again."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host


_GONE: Any = object()


class Passage:
    """The credentials of one exchange, checked by the egress request hook on each hop."""

    __slots__ = ("_carried", "_loose", "_origin", "_previous", "_previous_scheme")

    def __init__(self, url: httpx.URL, carried: Sequence[Carried]) -> None:
        self._origin = url
        self._carried = tuple(carried)
        self._previous: str | None = None
        self._previous_scheme: str | None = None
        self._loose = Redactor({c.value: c.name for c in carried if not c.allowed_hosts})

    def hop(self, request: httpx.Request, host: str) -> None:
        """Refuse the hop, or drop what it may not carry, before it is sent.

        ``host`` is the hop's host as the story's URL (or the redirect) names it, before
        any egress override.
        """
        previous, self._previous = self._previous, host
        scheme, self._previous_scheme = self._previous_scheme, request.url.scheme
        downgrade = scheme == "https" and request.url.scheme == "http"
        for carried in self._carried:
            if not carried.allows(host):
                where = ", ".join(carried.allowed_hosts)
                what = ("nothing was sent" if previous is None
                        else f"{previous} redirected there and the redirect was not followed")
                raise NotAllowed(host, f"credential '{carried.name}' may only be sent to {where}, "
                                       f"not to {host!r}; {what} (allowed_hosts)")
            if downgrade and carried.allowed_hosts:
                raise NotAllowed(host, f"{previous} redirected from https to plain http on {host!r}, where credential "
                                       f"'{carried.name}' would travel unencrypted; the redirect was not followed")
        if previous is not None and self._loose and not _same_origin(self._origin, request.url):
            self._drop(request, host)

    def _drop(self, request: httpx.Request, host: str) -> None:
        find = self._loose.find
        for name in {name for name, value in request.headers.items() if find(value)}:
            del request.headers[name]
        params = request.url.params.multi_items()
        kept = [(key, value) for key, value in params if not (find(key) or find(value))]
        if len(kept) != len(params):
            request.url = request.url.copy_with(params=kept)
        label = find(str(request.url))
        if label is not None:
            raise NotAllowed(host, f"the redirect to {host!r} (another origin) would carry credential '{label}' "
                                   "in its address; the redirect was not followed")
        self._drop_from_body(request, host)

    def _drop_from_body(self, request: httpx.Request, host: str) -> None:
        stream = request.stream
        # Egress builds bodies from bytes, forms and files, all of which can be read again.
        body = b"".join(stream) if isinstance(stream, Iterable) else b""
        label = self._loose.find(body.decode("utf-8", errors="surrogateescape")) if body else None
        if label is None:
            return
        pruned = self._prune_body(body, request.headers.get("content-type", "").lower())
        if pruned is None:
            raise NotAllowed(host, f"the redirect to {host!r} (another origin) would send the request body again, "
                                   f"which carries credential '{label}'; the redirect was not followed. "
                                   "Use the URL it ends up at, or set disable_redirect_follow")
        request.stream = httpx.ByteStream(pruned)
        request.headers["Content-Length"] = str(len(pruned))

    def _prune_body(self, body: bytes, content_type: str) -> bytes | None:
        """The body without the fields that carry a credential, or None if it has no fields to lose."""
        if "json" in content_type:
            try:
                pruned = self._prune(orjson.loads(body))
            except orjson.JSONDecodeError:
                return None
            if pruned is _GONE or not isinstance(pruned, dict | list):
                return None
            return orjson.dumps(pruned)
        if "x-www-form-urlencoded" in content_type:
            find = self._loose.find
            pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
            return urlencode([(k, v) for k, v in pairs if not (find(k) or find(v))]).encode()
        return None

    def _prune(self, value: Any) -> Any:
        find = self._loose.find
        if isinstance(value, str):
            return _GONE if find(value) else value
        if isinstance(value, dict):
            kept = {key: self._prune(item) for key, item in value.items() if not find(key)}
            return {key: item for key, item in kept.items() if item is not _GONE}
        if isinstance(value, list):
            return [item for item in map(self._prune, value) if item is not _GONE]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _GONE if find(str(value)) else value
        return value


def _same_origin(origin: httpx.URL, url: httpx.URL) -> bool:
    if origin.raw_host.lower() != url.raw_host.lower():
        return False
    if origin.scheme == url.scheme and origin.port == url.port:
        return True
    return origin.scheme == "http" and url.scheme == "https" and origin.port in (None, 80) and url.port in (None, 443)

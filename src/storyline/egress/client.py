"""The one way storyline talks HTTP to the outside world.

Every action that makes an HTTP call goes through one ``Egress`` so that connection
pooling, timeouts, the response-size cap and **host overrides** are applied in one
place. Overrides (``STORYLINE_EGRESS_OVERRIDES="slack.com=http://127.0.0.1:9001"``)
let a whole story run unchanged against local fakes in tests, demos and staging:
the story keeps saying ``https://slack.com/api/...`` and the request lands on the fake.
Everything else passes the SSRF guard (``guard.py``): no loopback, private or
metadata destinations unless ``STORYLINE_EGRESS_ALLOW`` names them.

This sits on the worker's hot path (thousands of requests per second against a
loopback fake in the benchmark), so it shares one ``httpx.AsyncClient`` (keep-alive,
HTTP/1.1) over its own transport (``wire.py``), adds no per-request client and
installs the override hooks only when there are overrides.
"""

from __future__ import annotations

import functools
import http.cookiejar
import re
import ssl
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from storyline.egress.carried import Carried, NotAllowed, Passage
from storyline.egress.errors import (
    EgressConnectionError,
    EgressError,
    EgressRefused,
    EgressTimeout,
    ResponseTooLarge,
)
from storyline.egress.guard import AllowList, Guard, Refused
from storyline.egress.response import EgressResponse
from storyline.egress.wire import Wire, unguarded
from storyline.hosts import override_url

MiB = 1024 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 10 * MiB
DEFAULT_USER_AGENT = "storyline/0.1 (Tines-compatible security automation)"

# The attribute an override hook leaves on a request so the response hook can put
# the story's own URL back (see ``Egress._on_request``).
_LOGICAL = "_storyline_logical"
# The request extension that carries a request's credentials from hop to hop (httpx
# hands a request's extensions on to each redirect it builds).
_PASSAGE = "storyline.passage"

# RFC 9110 field names (tokens) and field values as httpx sends them (ASCII text, inner
# spaces and tabs, nothing at either end): checked before sending, so a bad value fails
# with a message naming the header instead of h11's, which quotes the value.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")


class _Target(NamedTuple):
    """Where an overridden host really goes, pre-split so rewriting is a single copy."""

    base: str
    scheme: str
    host: str
    port: int | None
    prefix: bytes
    netloc: str


class _RefuseCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


def _no_cookie_jar() -> http.cookiejar.CookieJar:
    """One client serves every story: a cookie one upstream sets must not ride on another story's request."""
    return http.cookiejar.CookieJar(policy=_RefuseCookies())


class _NoCookies(httpx.Cookies):
    """The client's cookies: none, ever. A response's Set-Cookie is not even parsed (the jar would
    refuse it, but reading it through urllib's cookie machinery cost 5% of the worker's CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.AsyncClient):
    """httpx's client with ``_NoCookies``: nothing to store, nothing to send."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None


_NO_COOKIES = _NoCookies(_no_cookie_jar())


def _parse_target(host: str, base: str) -> _Target:
    url = override_url(host, base)
    prefix = url.raw_path.rstrip(b"/")
    return _Target(
        base=str(url).rstrip("/"),
        scheme=url.scheme,
        host=url.host,
        port=url.port,
        prefix=prefix,
        netloc=url.netloc.decode("ascii"),
    )


class _Unsendable(Exception):
    """The request cannot be written as HTTP at all (a bad header, an unreadable host): permanent."""

    def __init__(self, message: str, host: str = "") -> None:
        super().__init__(message)
        self.host = host


def _host(url: httpx.URL) -> str:
    """The URL's host as text; a plain, permanent error when it is not a valid IDNA name.

    httpx decodes ``xn--`` labels whenever the host is read, and a label that is not
    valid punycode (``xn--echo.test``) raises the idna library's own error.
    """
    try:
        return url.host
    except UnicodeError:
        raw = url.raw_host.decode("ascii", errors="replace")
        raise _Unsendable(f"the URL's host {raw!r} is not a valid internationalised domain name (IDNA); "
                          "check the URL", raw) from None


def _unparsed(url: str) -> str:
    """A URL httpx cannot read, as a message may name it: its scheme and host part, nothing after.

    Its path and query may carry a credential, and a cut-off copy of one (the first 80
    characters of the URL) is no longer recognisable to redaction.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "an address that does not parse"
    netloc = parts.netloc.rpartition("@")[2]  # never the user and password
    return repr(f"{parts.scheme}://{netloc}"[:300]) if netloc else "an address that does not parse"


def _check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name):
            raise _Unsendable(f"header name {name!r} is not a valid HTTP header name (letters, digits and "
                              "!#$%&'*+-.^_`|~ only)")
        if not _FIELD_VALUE.fullmatch(value):
            flaw, advice = _flaw(value)
            raise _Unsendable(f"header {name!r} has {flaw} in its value, which an HTTP header cannot carry; {advice}")


def _flaw(value: str) -> tuple[str, str]:
    """What is wrong with a header value and what to do, in words that do not quote it."""
    if "\n" in value or "\r" in value:
        return "a line break", "fix what renders it (a credential or variable read from a file often ends in one)"
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        return "a control character", "fix the value or what renders it"
    if not value.isascii():
        return "non-ASCII text", "encode it first (url_encode, base64_encode) or fix what renders it"
    return "a space or tab at its start or end", "strip it or fix what renders it"


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One SSL context per process for every pool of every ``Egress``: building one loads the CA bundle
    (~30 ms of CPU, paid by each service a process starts: a test suite starts hundreds)."""
    return httpx.create_ssl_context(verify=verify)


class Egress:
    """A shared HTTP client with host overrides, the SSRF guard, timeouts and a response-size cap.

    Create one per process (the worker owns it), hand it to actions through
    ``RunContext.egress`` and ``await aclose()`` on shutdown. ``max_connections``
    bounds the requests in flight (more wait for one to finish, within the timeout):
    at least the worker's jobs in flight (``worker_in_flight``), so that the pool is
    not what holds them up; ``max_keepalive_connections`` the idle ones kept open.
    ``allow`` lists what the guard lets through (``STORYLINE_EGRESS_ALLOW`` entries;
    ``["*"]`` turns it off). Through a ``proxy`` only host names and IP literals are
    checked: the proxy resolves names, so it has to refuse internal ones itself.
    """

    def __init__(
        self,
        overrides: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        user_agent: str = DEFAULT_USER_AGENT,
        *,
        max_connections: int = 1024,
        max_keepalive_connections: int = 256,
        proxy: str | None = None,
        allow: Iterable[str] = (),
    ) -> None:
        self.timeout = float(timeout)
        self.max_response_bytes = int(max_response_bytes)
        self.user_agent = user_agent
        self.overrides: dict[str, str] = {}
        self._targets: dict[str, _Target] = {}
        for host, base in (overrides or {}).items():
            key = host.strip().lower()
            target = _parse_target(key, base.strip())
            self._targets[key] = target
            self.overrides[key] = target.base
        allowed = AllowList(allow)
        endpoints = [(t.host, t.port or (443 if t.scheme == "https" else 80)) for t in self._targets.values()]
        self._guard = None if allowed.everything else Guard(allowed, endpoints)
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=30.0,
        )
        self._proxy = proxy
        self._client = self._build_client(verify=True)
        self._insecure_client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Egress:
        """Build from ``storyline.config.Settings`` (egress_routes, egress_allow, egress_timeout, max_response_bytes)."""
        return cls(
            overrides=settings.egress_routes,
            timeout=settings.egress_timeout,
            max_response_bytes=settings.max_response_bytes,
            allow=settings.egress_allow,
            max_connections=max(1024, 2 * int(getattr(settings, "worker_in_flight", 0))),
        )

    async def check_destination(self, host: str, port: int, what: str) -> None:
        """Apply the SSRF guard to a destination reached without HTTP (an IMAP server).

        The connection is then made by name, so a DNS answer that changes between this
        check and the connection is not caught as it is for HTTP; the checks on the name
        and on today's answers still keep stories off internal addresses.
        """
        if self._guard is None:
            return
        try:
            await self._guard.addresses(host, port)
        except Refused as exc:
            raise EgressRefused(f"{what} to {host}:{port} refused: {exc}", host=host) from None
        except OSError as exc:
            raise EgressConnectionError(f"{what} to {host}:{port} failed: {exc}", host=host) from None

    def _build_client(self, *, verify: bool) -> httpx.AsyncClient:
        # The request hook also holds credentials to their hosts on every hop, so it is always on.
        hooks: dict[str, list[Any]] = {"request": [self._on_request]}
        if self._targets:
            hooks["response"] = [self._on_response]
        ssl_context = _ssl_context(verify)
        limits = self._limits
        transport: httpx.AsyncBaseTransport
        if self._proxy is None:
            transport = Wire(
                ssl_context=ssl_context, max_connections=limits.max_connections or 0,
                max_idle=limits.max_keepalive_connections or 0, keepalive_expiry=limits.keepalive_expiry or 0.0,
                connect=self._guard.addresses if self._guard is not None else unguarded,
            )
        else:
            # Through a proxy, httpx's own transport (the proxy resolves names: see the class's docstring).
            transport = httpx.AsyncHTTPTransport(
                verify=ssl_context, http1=True, http2=False, limits=limits, proxy=self._proxy
            )
        # With an explicit transport httpx ignores HTTP(S)_PROXY from the environment;
        # ``proxy`` is the way to send egress through a proxy.
        return _Client(
            transport=transport,
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": self.user_agent},
            event_hooks=hooks,
            cookies=_no_cookie_jar(),
        )

    def _client_for(self, verify: bool) -> httpx.AsyncClient:
        if verify:
            return self._client
        # A client's TLS settings are fixed at creation, so unverified requests
        # (``disable_ssl_verification``) get their own client, built once.
        if self._insecure_client is None:
            self._insecure_client = self._build_client(verify=False)
        return self._insecure_client

    # -- host overrides ------------------------------------------------------------

    def _target_for(self, url: httpx.URL) -> _Target | None:
        targets = self._targets
        port = url.port or (443 if url.scheme == "https" else 80)
        return targets.get(f"{url.host}:{port}") or targets.get(url.host)

    def _rewrite(self, url: httpx.URL, target: _Target) -> httpx.URL:
        return url.copy_with(
            scheme=target.scheme, host=target.host, port=target.port, raw_path=target.prefix + url.raw_path
        )

    def resolve(self, url: str) -> str:
        """The URL a request to ``url`` really goes to after overrides (for tests, logs, docs)."""
        parsed = httpx.URL(url)
        target = self._target_for(parsed)
        return str(self._rewrite(parsed, target)) if target else str(parsed)

    async def _on_request(self, request: httpx.Request) -> None:
        # Runs for the first request and for every redirect hop, so a redirect to an
        # overridden host is overridden too. Only the wire sees the target: the
        # response hook restores the story's URL so redirects resolve, compare origins
        # and report URLs as the story wrote them. The credentials a request carries
        # are held to their hosts on the story's URL, before any override. Hosts that
        # are not overridden meet the guard here, on every hop; it checks their
        # addresses again at connect time.
        host = _host(request.url)
        passage: Passage | None = request.extensions.get(_PASSAGE)
        if passage is not None:
            passage.hop(request, host)
        target = self._target_for(request.url) if self._targets else None
        if target is None:
            if self._guard is not None:
                self._guard.check_host(host)
            return
        setattr(request, _LOGICAL, (request.url, request.headers.get("host")))
        request.url = self._rewrite(request.url, target)
        request.headers["Host"] = target.netloc

    async def _on_response(self, response: httpx.Response) -> None:
        request = response.request
        logical = getattr(request, _LOGICAL, None)
        if logical is None:
            return
        delattr(request, _LOGICAL)
        request.url, host = logical
        if host is not None:
            request.headers["Host"] = host

    def _describe(self, url: str) -> tuple[str, str]:
        """(host, "host (overridden to base)") for messages: never the query string."""
        try:
            parsed = httpx.URL(url)
            host = _host(parsed)
        except httpx.InvalidURL:
            return "", _unparsed(url)
        except _Unsendable as exc:
            return exc.host, exc.host
        target = self._target_for(parsed) if self._targets else None
        return host, f"{host} (overridden to {target.base})" if target else host

    # -- requests ------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Any = None,
        content: str | bytes | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        timeout: float | None = None,
        verify: bool = True,
        follow_redirects: bool = True,
        carrying: Sequence[Carried] = (),
    ) -> EgressResponse:
        """Send one request and read the whole response (up to ``max_response_bytes``).

        ``params`` are merged into the URL's query (same-named keys replaced).
        ``timeout`` overrides the default for this request. ``carrying`` lists the
        credential values in the request: each hop is held to them (``carried.py``).
        Raises ``EgressTimeout`` or ``EgressConnectionError`` (retryable),
        ``EgressRefused``, ``ResponseTooLarge`` or ``EgressError`` (not retryable);
        any HTTP status is a normal response.
        """
        client = self._client if verify else self._client_for(False)
        try:
            if headers:
                _check_headers(headers)
            # httpx 0.28 lets ``params`` replace the URL's whole query; stories expect
            # them added to it (``?domain=`` in the URL plus a payload), so merge here.
            target = httpx.URL(url)
            _host(target)  # httpx reads it while building the request
            if params:
                target = target.copy_merge_params(params)
            request = client.build_request(
                method,
                target,
                headers=headers,
                content=content,
                data=data,
                json=json,
                files=files,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                extensions={_PASSAGE: Passage(target, carrying)} if carrying else None,
            )
            response = await client.send(request, stream=True, follow_redirects=follow_redirects)
        except Exception as exc:
            raise self._failure(exc, method, url, timeout) from None

        limit = self.max_response_bytes
        try:
            declared = response.headers.get("content-length")
            if (
                declared is not None
                and method.upper() != "HEAD"
                and declared.isdigit()
                and int(declared) > limit
            ):
                raise self._too_large(method, url, f"declares {declared} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_large(method, url, f"exceeded {limit} bytes")
                chunks.append(chunk)
        except Exception as exc:
            raise self._failure(exc, method, url, timeout, reading=True) from None
        finally:
            await response.aclose()

        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return EgressResponse(
            response.status_code,
            dict(response.headers.items()),
            body,
            str(response.url),
        )

    def _failure(
        self, exc: Exception, method: str, url: str, timeout: float | None, *, reading: bool = False
    ) -> Exception:
        """The one place that decides whether a failed exchange is worth trying again.

        Transient: timeouts and network trouble (refused, reset, DNS). Everything the
        request itself got wrong fails at once, whatever the network does: a malformed
        URL or header, a host that is not a valid internationalised name, a refused
        destination, endless redirects, an oversized body. Messages name the host and
        never quote a header value or the query string (where API keys travel).
        Anything unforeseen is returned as it is (the engine retries those, with a trace).
        """
        if isinstance(exc, EgressError):
            return exc
        host, where = self._describe(url)
        what = f"{method.upper()} to {where}"
        if isinstance(exc, httpx.TimeoutException):
            if reading:
                return EgressTimeout(f"{what} timed out reading the body ({type(exc).__name__})", host=host)
            limit = self.timeout if timeout is None else timeout
            return EgressTimeout(f"{what} timed out after {limit:g}s ({type(exc).__name__})", host=host)
        if isinstance(exc, _Unsendable):
            return EgressError(f"{what} not sent: {exc}", host=host)
        if isinstance(exc, Refused | NotAllowed):
            hop = "" if exc.host == host else " after a redirect"
            return EgressRefused(f"{what} refused{hop}: {exc}", host=host)
        if isinstance(exc, httpx.LocalProtocolError):
            return EgressError(f"{what} failed: the request has a header that HTTP does not allow (a line break "
                               "or other control character in a name or value); nothing was sent", host=host)
        if isinstance(exc, UnicodeError):
            # The story's host was read before sending (``_host``), so this is a redirect's.
            return EgressError(f"{what} failed: it redirected to a host that is not a valid internationalised "
                               "domain name (IDNA)", host=host)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.TooManyRedirects):
            return EgressError(f"{what} failed: {exc}", host=host)
        if isinstance(exc, httpx.DecodingError):
            return EgressError(f"{what} failed: the response body does not decode as its Content-Encoding "
                               "says", host=host)
        if isinstance(exc, httpx.TransportError):
            detail = str(exc) or type(exc).__name__
            if reading:
                return EgressConnectionError(f"{what} broke while reading the body: {detail}", host=host)
            return EgressConnectionError(f"{what} failed: {detail}", host=host)
        return exc

    def _too_large(self, method: str, url: str, why: str) -> ResponseTooLarge:
        host, where = self._describe(url)
        return ResponseTooLarge(
            f"response to {method.upper()} {where} refused: body {why}, "
            f"over the limit of {self.max_response_bytes} bytes (max_response_bytes)",
            host=host,
        )

    async def aclose(self) -> None:
        """Close pooled connections; call once on shutdown."""
        await self._client.aclose()
        if self._insecure_client is not None:
            await self._insecure_client.aclose()
            self._insecure_client = None

    async def __aenter__(self) -> Egress:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

"""HTTP/1.1 on the event loop for the egress client: pooled connections, one C parser, no layers between.

Why not httpx's own transport: every request through it crossed httpcore's pool (which re-examines
every queued request and connection whenever one is assigned, so its cost grows with the square of the
requests in flight), h11's pure-Python parser, and anyio's streams and cancel scopes around every read
and write. On the benchmark's loopback upstream that was about 0.5 ms of CPU per request, 1 ms at 256 in
flight: the largest single cost of a story run (bench/README.md). Here a connection is an
``asyncio.Protocol`` whose bytes go to ``httptools`` (llhttp, the parser uvicorn serves with), the pool
is a list of idle connections per origin, and timeouts are timer callbacks, not tasks.

httpx still does everything above the wire: building requests, redirects, the override and credential
hooks (``client.py``, ``carried.py``), cookies refused, content decoding, streaming with the size cap.
This module speaks HTTP/1.1 to one origin per connection and raises httpx's own exceptions, so the
client cannot tell it from httpx's transport. The SSRF guard's connect-time check is here
(``connect``): a new connection's host is resolved once, every address checked, and the checked address
connected to, with the host name kept for TLS (SNI and certificate checks).
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httptools
import httpx

Connect = Callable[[str, int], Awaitable[list[str]]]
"""The addresses a new connection to (host, port) may use; raises ``guard.Refused`` or ``OSError``."""
Origin = tuple[bytes, bytes, int]

READ_BUFFER = 256 * 1024
"""Bytes of a response body buffered before the connection stops reading until they are taken."""


async def unguarded(host: str, port: int) -> list[str]:
    """No guard (``STORYLINE_EGRESS_ALLOW=*``): the system resolves the name as it connects."""
    return [host]


# What HTTP/1.1 lets a request carry (RFC 9110 tokens; field values without control characters but
# tab; a target without spaces or controls): anything else would let a value write a header or a
# request of its own, so it fails as h11 fails it, before anything is sent.
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: a request is written whole, its response is parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.until_close = False
        self.keep_alive = False
        self.chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._interim = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols, which egress does not speak"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"the server's answer is not valid HTTP/1.1: {exc}"))

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and self.until_close and not self.complete:
            self.complete = True  # a body without a length ends with the connection
            self._wake()
        elif not self.complete:
            self._fail(httpx.RemoteProtocolError("the server closed the connection before its answer was complete")
                       if exc is None else httpx.ReadError(str(exc) or type(exc).__name__))
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(httpx.WriteError("the connection closed while sending the request"))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- httptools callbacks -----------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._interim = True
            self.headers = []
            self.reason = b""
            return
        self.status = status
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the message is complete
        framed = any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        self.until_close = not framed and status not in (204, 304)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_BUFFER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()

    # -- waiting ---------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def _time_out(self, error: Callable[[], Exception]) -> None:
        self._timer = None
        self._fail(error())

    async def _wait(self, timeout: float | None, error: Callable[[], Exception]) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self.loop.create_future()
        if timeout is not None:
            self._timer = self.loop.call_later(timeout, self._time_out, error)
        try:
            await waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    async def send(self, head: bytes, body: Any, chunked: bool, timeout: float | None) -> None:
        assert self.transport is not None
        if isinstance(body, bytes):
            self.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.transport.write(body)
        else:
            self.transport.write(head)
            async for chunk in body:
                if chunk:
                    self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                await self._drain(timeout)
            if chunked:
                self.transport.write(b"0\r\n\r\n")
        await self._drain(timeout)

    async def _drain(self, timeout: float | None) -> None:
        if self._error is not None:
            raise self._error
        if not self._paused:
            return
        self._drained = self.loop.create_future()
        try:
            await asyncio.wait_for(self._drained, timeout)
        except TimeoutError:
            self.close()
            raise httpx.WriteTimeout(f"sending the request took longer than {timeout}s") from None
        finally:
            self._drained = None

    async def head(self, timeout: float | None) -> None:
        while not self.head_done:
            await self._wait(timeout, lambda: httpx.ReadTimeout(f"no answer within {timeout}s"))

    async def body(self, timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            while self.chunks:
                chunk = self.chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= READ_BUFFER // 2 and self.transport is not None and not self.closed:
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            await self._wait(timeout, lambda: httpx.ReadTimeout(f"the answer's body stalled for {timeout}s"))

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and not self.until_close and self._error is None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Wire(httpx.AsyncBaseTransport):
    """An httpx transport over pooled HTTP/1.1 connections (``_Connection``).

    ``max_connections`` bounds the requests in flight (a request over it waits up to the pool
    timeout); ``max_idle`` the idle keep-alive connections kept, each for at most
    ``keepalive_expiry`` seconds. ``connect`` gives the addresses a new connection may use (the
    guard's check); the host name is kept for TLS.
    """

    def __init__(
        self, *, ssl_context: ssl.SSLContext, max_connections: int = 1024, max_idle: int = 256,
        keepalive_expiry: float = 30.0, connect: Connect = unguarded,
    ) -> None:
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(max_connections) if max_connections > 0 else None
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._connect_to = connect
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self.in_flight = 0
        """Requests holding a connection (sent, or answered with a body not yet read and closed)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode(errors='replace')}://'." if scheme
                else "Request URL is missing an 'http://' or 'https://' protocol.")
        timeouts = request.extensions.get("timeout", {})
        slots = self._slots
        if slots is not None:
            if slots.locked():
                try:
                    await asyncio.wait_for(slots.acquire(), timeouts.get("pool"))
                except TimeoutError:
                    raise httpx.PoolTimeout("no connection came free in time") from None
            else:
                await slots.acquire()
        self.in_flight += 1
        try:
            url = request.url
            origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
            conn = self._take(origin) or await self._open(origin, timeouts.get("connect"))
            try:
                head, body, chunked = _serialise(request)
                await conn.send(head, body, chunked, timeouts.get("write"))
                await conn.head(timeouts.get("read"))
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._release()
            raise
        if request.method == "HEAD" or conn.status in (204, 304):
            conn.complete = True
            conn.until_close = conn.until_close or request.method == "HEAD"  # a HEAD's declared length is no body
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, origin, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if not conn.closed and now - conn.idle_since < self._expiry:
                conn._reset()
                return conn
            conn.close()
        return None

    def _release(self) -> None:
        self.in_flight -= 1
        if self._slots is not None:
            self._slots.release()

    def _give_back(self, origin: Origin, conn: _Connection) -> None:
        self._release()
        if not conn.reusable() or self._idle_count >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.setdefault(origin, []).append(conn)
        self._idle_count += 1

    def _drop(self, conn: _Connection) -> None:
        self._release()
        conn.close()

    async def _open(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        loop = asyncio.get_running_loop()
        tls = scheme == b"https"
        try:
            async with asyncio.timeout(timeout):
                try:
                    addresses = await self._connect_to(host, port)
                except OSError as exc:
                    raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
                error: Exception = httpx.ConnectError(f"{host} has no address")
                for address in addresses:
                    try:
                        _transport, conn = await loop.create_connection(
                            lambda: _Connection(loop), address, port,
                            ssl=self._ssl if tls else None, server_hostname=host if tls else None,
                        )
                        return conn
                    except (OSError, ssl.SSLError) as exc:
                        error = httpx.ConnectError(str(exc) or type(exc).__name__)
                raise error
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} took longer than {timeout}s") from None

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        self._idle_count = 0


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; its connection goes back to the pool once the body is read."""

    __slots__ = ("_conn", "_done", "_origin", "_timeout", "_wire")

    def __init__(self, wire: Wire, conn: _Connection, origin: Origin, timeout: float | None) -> None:
        self._wire = wire
        self._conn = conn
        self._origin = origin
        self._timeout = timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._conn.body(self._timeout):
            yield chunk

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        if self._conn.complete and not self._conn.chunks:
            self._wire._give_back(self._origin, self._conn)
        else:
            self._wire._drop(self._conn)  # closed before its body was read: the connection cannot be reused


def _serialise(request: httpx.Request) -> tuple[bytes, Any, bool]:
    """The request's head as bytes, its body (bytes, or an async iterable), and whether to chunk it."""
    url = request.url
    target = url.raw_path or b"/"
    method = request.method.encode("ascii", errors="replace")
    if _BAD_TARGET.search(target) or not _NAME.fullmatch(method):
        raise httpx.LocalProtocolError("the request line has a character HTTP does not allow")
    lines = [b"%b %b HTTP/1.1\r\n" % (method, target)]
    chunked = False
    for name, value in request.headers.raw:
        if not _NAME.fullmatch(name) or _BAD_VALUE.search(value):
            raise httpx.LocalProtocolError("a header has a character HTTP does not allow")
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        lines.append(b"%b: %b\r\n" % (name, value))
    lines.append(b"\r\n")
    stream = request.stream
    body: Any = b"".join(stream) if isinstance(stream, httpx.ByteStream) else stream
    return b"".join(lines), body, chunked

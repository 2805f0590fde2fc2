"""The HTTP server of `storyline serve`: uvicorn, with what a server reachable by strangers must bound.

uvicorn on its own reads a request head of any size (a 150 MB header was read whole,
stalling every other request for seconds), waits forever for a client that trickles
its head a byte at a time, and takes any number of connections. Here, per
``Settings``:

* a request line and headers over ``max_header_bytes`` are answered 431 as soon as
  that much is buffered (h11's ``max_incomplete_event_size``: uvicorn's httptools
  protocol has no such limit and buffers the whole header first, hence h11);
* a request head must arrive whole within ``header_timeout`` of the connection
  opening, or of its first byte on a kept-alive connection: else 408;
* a kept-alive connection idle for ``IDLE_SECONDS`` is closed (uvicorn's keep-alive);
* past ``max_connections`` open connections a new one is answered 503 at once;
* no ``server`` header.

A refused connection gets its answer, then storyline stops reading it (bytes still
coming are discarded, for at most ``LINGER_SECONDS``) so that the client reads the
status instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from storyline.config import Settings
from storyline.web.pages import SECURITY_HEADERS

log = logging.getLogger(__name__)

IDLE_SECONDS = 5
LINGER_SECONDS = 2.0


class _Connection(h11.Connection):
    """An h11 connection that remembers the status h11 suggests for the request it refused (431: too big)."""

    refusal: int | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc.error_status_hint
            raise


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header size limit answered 431, a header deadline and a connection cap."""

    settings: ClassVar[Settings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _Connection(h11.SERVER, self.settings.max_header_bytes)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.settings.max_connections:
            self._refuse(503, f"this server has its {self.settings.max_connections} connections open "
                              "(STORYLINE_MAX_CONNECTIONS); try again shortly")
            return
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: what is still coming is discarded
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm_head_deadline()
        elif self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()  # a head has begun (or goes on): it has until the deadline
        else:
            self._disarm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if self.conn.refusal == 431:
            self._refuse(431, f"the request line and headers are larger than {self.settings.max_header_bytes} "
                              "bytes (STORYLINE_MAX_HEADER_BYTES)")
            return
        super().send_400_response(msg)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.settings.header_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if not self.conn.trailing_data[0]:
            self.transport.close()  # opened and never used: nobody to tell
            return
        self._refuse(408, f"the request line and headers did not arrive within {self.settings.header_timeout:g}s "
                          "(STORYLINE_HEADER_TIMEOUT)")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` and close, without reading further; the client reads the answer, not a reset."""
        self._refused = True
        self._disarm_head_deadline()
        self.connections.discard(self)
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("refused %s: HTTP %d: %s", peer, status, reason)
        body = f"{reason}\n".encode()
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
                b"content-type: text/plain; charset=utf-8", b"content-length: %d" % len(body), b"connection: close",
                *(name + b": " + value for name, value in SECURITY_HEADERS)]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def protocol(settings: Settings) -> type[LimitedH11Protocol]:
    """The protocol class for these settings (uvicorn builds one instance per connection, given only its config)."""
    return type("LimitedH11Protocol", (LimitedH11Protocol,), {"settings": settings})


def config(app: Any, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How `storyline serve` runs ``app``; tests start the same server on a free port."""
    return uvicorn.Config(
        app, host=host, port=port, http=protocol(settings), loop="uvloop", log_level="warning", access_log=False,
        server_header=False, h11_max_incomplete_event_size=settings.max_header_bytes, timeout_keep_alive=IDLE_SECONDS,
    )

"""The HTTP server of `storyline serve`: uvicorn, with what a server reachable by strangers must bound.

uvicorn on its own reads a request head of any size (a 150 MB header was read whole,
stalling every other request for seconds), waits forever for a client that trickles
its head a byte at a time, and takes any number of connections. Here, per
``Settings``:

* a request line and headers over ``max_header_bytes`` are answered 431, as soon as
  that many bytes of an unfinished head have arrived (so a huge header is never
  buffered whole), and when a head that arrived in one piece turns out larger; the
  same for what a chunked body carries besides its data (chunk extensions, trailer
  fields), which the parser also buffers whole, counted since the last chunk began;
* a request head must arrive whole within ``header_timeout`` of the connection
  opening, or of its first byte on a kept-alive connection: else 408;
* its body must arrive whole within ``body_timeout`` of the head: else 408 (a body
  trickled a byte at a time would otherwise hold a connection, and a request being
  handled, for ever);
* a kept-alive connection idle for ``IDLE_SECONDS`` is closed (uvicorn's keep-alive);
* past ``max_connections`` open connections a new one is answered 503 at once;
* no ``server`` header, and storyline's security headers on its own refusals too (400
  for a request that is not valid HTTP/1.1, 408, 431, 503).

This is uvicorn's httptools protocol with the counting added, not its h11 protocol
(whose ``h11_max_incomplete_event_size`` bounds a head by itself): h11 parses in
Python and acknowledged about a fifth fewer webhooks per second (wrk, 32 connections).

A refused connection gets its answer, then storyline stops reading it (bytes still
coming are discarded, for at most ``LINGER_SECONDS``) so that the client reads the
status instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from types import FrameType
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from storyline.config import Settings
from storyline.web.pages import SECURITY_HEADERS

log = logging.getLogger(__name__)

IDLE_SECONDS = 5
LINGER_SECONDS = 2.0
HEADER_LINE_OVERHEAD = 4
"""": " and CRLF around each header, counted with its name and value."""


class _HeadTooLarge(Exception):
    """Raised from the parser's callback to stop parsing a head found too large once whole."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size limit (431), head and body deadlines (408), a connection cap (503)."""

    settings: ClassVar[Settings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._refused = False
        self._too_large = False
        # Between requests and while a head comes in, the bytes received count against the limit.
        self._reading_head = True
        self._head_bytes = 0
        self._message_completed = False
        # Bytes of a body that are not its data (chunk sizes and extensions, trailers) since a chunk began;
        # a read in which one began is not counted, so at most one read more than the limit is buffered.
        self._framing_bytes = 0
        self._body_progress = 0
        self._chunk_began = False

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
        self._message_completed = False
        self._body_progress, self._chunk_began = 0, False
        super().data_received(data)
        if self._refused or self.transport.is_closing():
            self._disarm_head_deadline()
            return
        if self._reading_head and not self._message_completed:
            # Bytes of a head still unfinished (the chunk that ended a request is not counted).
            self._head_bytes += len(data)
            if self._head_bytes > self.settings.max_header_bytes:
                self._refuse_too_large()
                return
        elif not self._reading_head and not self._chunk_began:
            # Inside a body: what was not its data, counted from the last chunk's start.
            self._framing_bytes += max(0, len(data) - self._body_progress)
            if self._framing_bytes > self.settings.max_header_bytes:
                self._refuse_too_large("chunk extensions and trailer fields of the request body")
                return
        if self._waiting_for_head():
            self._arm_head_deadline()
        else:
            self._disarm_head_deadline()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._disarm_head_deadline()
        size = len(self.url) + sum(len(name) + len(value) + HEADER_LINE_OVERHEAD for name, value in self.headers)
        if size > self.settings.max_header_bytes:
            self._too_large = True
            raise _HeadTooLarge
        super().on_headers_complete()
        self._disarm_body_deadline()
        self._body_deadline = self.loop.call_later(self.settings.body_timeout, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_progress += len(body)

    def on_chunk_header(self) -> None:
        self._framing_bytes, self._chunk_began = 0, True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm_body_deadline()
        self._reading_head, self._head_bytes, self._message_completed = True, 0, True
        self._framing_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse_too_large()
            return
        # uvicorn's own 400 carries none of the headers every other answer does.
        self._refuse(400, "the request is not valid HTTP/1.1 (a malformed request line, header, length or chunk); "
                          "nothing was recorded")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        self._disarm_body_deadline()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        """A head is due: none has come yet on this connection, or the last request was answered."""
        return self._reading_head and (self.cycle is None or self.cycle.response_complete)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.settings.header_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        if not self._head_bytes:
            self.transport.close()  # opened and never used: nobody to tell
            return
        self._refuse(408, f"the request line and headers did not arrive within {self.settings.header_timeout:g}s "
                          "(STORYLINE_HEADER_TIMEOUT)")

    def _disarm_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_timed_out(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (without reading the body): nothing more to say
            return
        self._refuse(408, f"the request body did not arrive within {self.settings.body_timeout:g}s "
                          "(STORYLINE_BODY_TIMEOUT)")

    def _refuse_too_large(self, what: str = "the request line and headers") -> None:
        self._refuse(431, f"{what} are larger than {self.settings.max_header_bytes} bytes "
                          "(STORYLINE_MAX_HEADER_BYTES)")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` and close, without reading further; the client reads the answer, not a reset."""
        self._refused = True
        self._disarm_head_deadline()
        self._disarm_body_deadline()
        self.connections.discard(self)
        if self.cycle is not None and not self.cycle.response_started:
            # The request being handled reads a disconnect now, and anything it answers goes nowhere.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
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


def protocol(settings: Settings) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for these settings (uvicorn builds one instance per connection, given only its config)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"settings": settings})


def config(app: Any, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How `storyline serve` runs ``app``; tests start the same server on a free port."""
    return uvicorn.Config(
        app, host=host, port=port, http=protocol(settings), loop="uvloop", log_level="warning", access_log=False,
        server_header=False, timeout_keep_alive=IDLE_SECONDS,
    )


class Server(uvicorn.Server):
    """uvicorn's server, which also tells ``stopping`` at once when a signal asks it to stop.

    uvicorn finishes the requests in flight before the app's shutdown begins; serve's worker
    processes, which may get the same signal (Ctrl-C, a service manager stopping the group),
    must not be started again meanwhile.
    """

    def __init__(self, config: uvicorn.Config, stopping: Callable[[], None]) -> None:
        super().__init__(config)
        self._stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._stopping()

"""A real HTTP server on 127.0.0.1 for tests: any ASGI app, call recording, scripted faults.

Fakes of outside services (VirusTotal, Slack, ...) subclass ``FakeServer`` so that
every one of them records calls the same way and can be told to misbehave the same
way (429 with Retry-After, 5xx, a hang). Stories reach a fake through egress host
overrides, exactly as they would in a demo or staging, so the code under test is
never patched.

    with FakeServer(app) as server:            # or FakeSlack(), FakeVirusTotal()
        egress = Egress({"api.example.com": server.url})
        ...
        assert server.calls[0].method == "GET"

The server runs uvicorn on its own event loop in a daemon thread, so it works from
sync tests and from async tests (whose loop stays free for the client).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, parse_qsl

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Running:
    """A fake started by ``with``: every fake has ``start`` (returning itself) and ``stop``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass
class Call:
    """One request as the server saw it (recorded before any fault or route runs)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] | None = None
    fault: str | None = None
    """What scripted fault answered it ("status 429", "hang 5s"), or None if the app did."""
    received_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` when it arrived, for benchmarks timing a reply."""

    @property
    def params(self) -> dict[str, str]:
        """Query parameters, last value winning (``multi_params`` keeps them all)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def multi_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body, last value winning."""
        return dict(parse_qsl(self.text, keep_blank_values=True))


@dataclass
class Fault:
    """A scripted misbehaviour for the next ``times`` matching requests (None: forever)."""

    status: int = 500
    times: int | None = 1
    path: str | None = None
    method: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or path == self.path or path.startswith(self.path.rstrip("/") + "/")


class FakeServer(Running):
    """Serve ``app`` on a free 127.0.0.1 port in a background thread.

    ``url`` is the base URL, ``calls`` every request received (in order). ``fail()``,
    ``throttle()`` and ``hang()`` script faults that answer before the app does.
    Use as a context manager, or ``start()``/``stop()``; a module-scoped fixture plus
    ``reset()`` between tests keeps suites fast.
    """

    rate_limit_body: Any = {"error": "rate limited"}
    """What ``throttle()`` answers with; fakes set their service's own shape."""

    latency: float = 0.0
    """Seconds every request waits before its answer, like a real upstream's round trip."""

    def __init__(self, app: ASGIApp | None = None, *, host: str = "127.0.0.1") -> None:
        self.app: ASGIApp = app if app is not None else self.build_app()
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def build_app(self) -> ASGIApp:
        """Subclasses return their service's app here."""
        raise TypeError("FakeServer needs an ASGI app (or a subclass that defines build_app)")

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:54321."""
        if not self.port:
            raise RuntimeError("the fake server is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            proxy_headers=False,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._stopping.set()  # releases hanging handlers
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None


    # -- scripting -----------------------------------------------------------------

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = 1,
        path: str | None = None,
        method: str | None = None,
        body: bytes | str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | str | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests (None: all) with ``status``."""
        out_headers = dict(headers or {})
        if json is not None:
            raw = jsonlib.dumps(json).encode()
            out_headers.setdefault("content-type", "application/json")
        elif isinstance(body, str):
            raw = body.encode()
            out_headers.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            raw = body or b""
        if retry_after is not None:
            out_headers["retry-after"] = (
                str(retry_after) if isinstance(retry_after, str) else f"{retry_after:g}"
            )
        fault = Fault(status=status, times=times, path=path, method=method, body=raw, headers=out_headers)
        with self._lock:
            self.faults.append(fault)
        return fault

    def throttle(
        self, times: int | None = 1, *, retry_after: float | str | None = 1, path: str | None = None
    ) -> Fault:
        """Answer 429 with ``Retry-After`` and the service's rate-limit body."""
        return self.fail(429, times=times, path=path, json=self.rate_limit_body, retry_after=retry_after)

    def hang(self, seconds: float = 30.0, *, times: int | None = 1, path: str | None = None) -> Fault:
        """Accept the request and say nothing for ``seconds`` (then 504), to exercise client timeouts."""
        fault = Fault(status=504, times=times, path=path, hang=seconds)
        with self._lock:
            self.faults.append(fault)
        return fault

    def reset(self) -> None:
        """Forget calls and pending faults (subclasses also reset their state)."""
        with self._lock:
            self.calls.clear()
            self.faults.clear()

    def calls_to(self, path: str, method: str | None = None) -> list[Call]:
        return [
            call
            for call in list(self.calls)
            if call.path == path and (method is None or call.method == method.upper())
        ]

    def wait_for_calls(self, count: int, timeout: float = 5.0) -> list[Call]:
        """Block until at least ``count`` calls arrived (for flows driven by another thread)."""
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} calls to {self.url}, got {len(self.calls)}")
            time.sleep(0.005)
        return list(self.calls)

    # -- ASGI ----------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        method = scope["method"]
        path = scope["path"]
        call = Call(
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            client=tuple(scope["client"]) if scope.get("client") else None,
        )
        fault = self._take_fault(method, path)
        if fault is not None:
            call.fault = f"hang {fault.hang:g}s" if fault.hang is not None else f"status {fault.status}"
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)

        if fault is not None:
            if fault.hang is not None:
                deadline = time.monotonic() + fault.hang
                while time.monotonic() < deadline and not self._stopping.is_set():
                    await asyncio.sleep(0.02)
            await _respond(send, fault.status, fault.headers.items(), fault.body)
            return None

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _respond(send: Send, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})

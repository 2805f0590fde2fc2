"""serve's worker processes: started, woken, restarted when they die, drained when serve stops.

Why processes: one Python process runs one thread of Python at a time, and a worker busy with
its jobs made the acks in the same process wait for it (bench/README.md). With the worker in
processes of its own, the web process only acknowledges, and the workers use the other cores.

Each worker process (``engine/worker_process.py``) holds one end of a socket pair with serve:

* serve sends it its settings first, then a byte whenever serve has committed new jobs, so a
  worker that sleeps (it looks for due jobs by itself at most a second apart) claims them at once,
  and another byte when serve stops (a signal would do, but one that reached the worker already,
  sent to the whole process group, would then count twice: the second one stops it at once);
* it sends one byte when it runs (ready), and nothing else;
* when serve dies, the worker reads the end of the stream, finishes its jobs and exits, so no
  worker outlives its serve for longer than a lease.

A worker process that dies is started again after a pause that doubles with every death in a
row (``RESTART_SECONDS`` up to ``MAX_RESTART_SECONDS``), and serve's /healthz answers 503 until it
runs again. When serve stops, each worker stops claiming, finishes the jobs it holds (they have
their lease to do so) and exits; one still running after the lease is killed, and its jobs run
again elsewhere once their lease ends, as after any crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from storyline.config import Settings

log = logging.getLogger(__name__)

WAKE = b"w"
STOP = b"s"
READY = b"r"
RESTART_SECONDS = 0.5
MAX_RESTART_SECONDS = 30.0
STABLE_SECONDS = 60.0
"""A worker process that ran this long before dying is restarted after the shortest pause again."""
STOP_GRACE_SECONDS = 5.0
"""Beyond the lease, what a worker process is given to exit before it is killed."""
_HEADER = struct.Struct("!I")


@dataclass(frozen=True)
class Orders:
    """What serve tells a worker process it starts: all it needs besides the environment."""

    settings: Settings
    index: int
    concurrency: int | None
    log_runs: bool


def send_orders(sock: socket.socket, orders: Orders) -> None:
    data = pickle.dumps(orders)
    sock.sendall(_HEADER.pack(len(data)) + data)


def receive_orders(sock: socket.socket) -> Orders:
    """The orders serve sent (only serve holds the other end of this socket, so they are trusted)."""
    size = _HEADER.unpack(_receive_exactly(sock, _HEADER.size))[0]
    orders = pickle.loads(_receive_exactly(sock, size))
    if not isinstance(orders, Orders):
        raise ValueError("not a worker's orders")
    return orders


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("serve closed the socket before sending the worker's orders")
        data += chunk
    return data


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class Child:
    """One worker process slot: the process in it now, and its history."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.state = "starting"
        self.started_at = 0.0
        self.restarts = 0
        self.deaths_in_a_row = 0
        self.last_exit: str | None = None
        self.exited = asyncio.Event()

    def summary(self) -> dict[str, Any]:
        return {"index": self.index, "state": self.state, "restarts": self.restarts,
                **({"last_exit": self.last_exit} if self.last_exit else {})}


class Supervisor:
    """``count`` worker processes for serve's web process, each running ``engine/worker_process.py``."""

    def __init__(self, settings: Settings, count: int, *, concurrency: int | None = None) -> None:
        self.settings = settings
        self.children = [Child(n) for n in range(count)]
        self._concurrency = concurrency
        self._stopping = False
        self._wake_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for child in self.children:
            self._spawn(child)

    def wake(self) -> None:
        """New jobs are committed: wake every worker process, once for all the commits of this loop turn."""
        if not self._wake_due and self._loop is not None:
            self._wake_due = True
            self._loop.call_soon(self._send_wake)

    def draining(self) -> None:
        """serve was told to stop: restart nobody from now on (safe to call from a signal handler)."""
        self._stopping = True

    def problem(self) -> str | None:
        """None when every worker process runs, else which do not (for /healthz)."""
        down = [c for c in self.children if c.state != "ready"]
        if not down or self._stopping:
            return None
        return "; ".join(
            f"worker process {c.index + 1} of {len(self.children)} is {c.state}"
            + (f" (the last one {c.last_exit})" if c.last_exit else "")
            for c in down)

    def summary(self) -> dict[str, Any]:
        return {"processes": len(self.children), "running": sum(c.state == "ready" for c in self.children),
                "children": [c.summary() for c in self.children]}

    async def stop(self) -> None:
        """Have every worker process finish its jobs and exit; kill one still running after the lease."""
        self._stopping = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            child.state = "stopping"
            try:
                assert child.sock is not None
                child.sock.send(STOP)
            except (AssertionError, OSError):  # it closed its end: gone, or about to be
                with contextlib.suppress(ProcessLookupError):
                    assert child.process is not None
                    child.process.send_signal(signal.SIGTERM)
        limit = self.settings.lease_seconds + STOP_GRACE_SECONDS
        try:
            await asyncio.wait_for(asyncio.gather(*(c.exited.wait() for c in running)), limit)
        except TimeoutError:
            for child in running:
                if not child.exited.is_set() and child.process is not None:
                    log.warning("worker process %d (pid %d) still running %.0fs after it was asked to stop; "
                                "killing it (its jobs run again once their lease ends)",
                                child.index + 1, child.process.pid, limit)
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()
            await asyncio.gather(*(c.exited.wait() for c in running))

    # ------------------------------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        if self._stopping:
            return
        parent, theirs = socket.socketpair()
        orders = Orders(
            # One scheduler is enough: the others would only find every tick taken.
            settings=self.settings if child.index == 0 else replace(self.settings, scheduler=False),
            index=child.index, concurrency=self._concurrency,
            log_runs=logging.getLogger("storyline.runs").isEnabledFor(logging.INFO),
        )
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "storyline.engine.worker_process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            )
            send_orders(parent, orders)
        except OSError:
            log.exception("could not start worker process %d", child.index + 1)
            parent.close()
            theirs.close()
            self._died(child, "could not be started")
            return
        finally:
            theirs.close()
        parent.setblocking(False)
        child.process, child.sock, child.state = process, parent, "starting"
        child.started_at = time.monotonic()
        child.exited = asyncio.Event()
        assert self._loop is not None
        self._loop.add_reader(parent.fileno(), self._readable, child)
        loop = self._loop
        threading.Thread(target=self._watch, args=(loop, child, process), daemon=True,
                         name=f"storyline-watch-worker-{child.index + 1}").start()

    def _watch(self, loop: asyncio.AbstractEventLoop, child: Child, process: subprocess.Popen[bytes]) -> None:
        """In a thread of its own: wait for the process to end, then tell the loop."""
        code = process.wait()
        with contextlib.suppress(RuntimeError):  # the loop is closed: serve has ended
            loop.call_soon_threadsafe(self._on_exit, child, process, code)

    def _readable(self, child: Child) -> None:
        assert child.sock is not None
        try:
            data = child.sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the process is gone or going: its exit is handled when it is reaped
            self._forget_socket(child)
            return
        if READY in data and child.state == "starting":
            child.state = "ready"

    def _forget_socket(self, child: Child) -> None:
        if child.sock is not None:
            assert self._loop is not None
            self._loop.remove_reader(child.sock.fileno())
            child.sock.close()
            child.sock = None

    def _on_exit(self, child: Child, process: subprocess.Popen[bytes], code: int) -> None:
        if child.process is not process:
            return
        child.exited.set()
        self._forget_socket(child)
        child.process = None
        if self._stopping:
            child.state = "stopped"
            return
        self._died(child, describe_exit(code), pid=process.pid)

    def _died(self, child: Child, how: str, *, pid: int | None = None) -> None:
        ran = time.monotonic() - child.started_at if child.started_at else 0.0
        child.deaths_in_a_row = 1 if ran >= STABLE_SECONDS else child.deaths_in_a_row + 1
        pause = min(MAX_RESTART_SECONDS, RESTART_SECONDS * 2 ** (child.deaths_in_a_row - 1))
        child.state, child.last_exit = "down", how
        log.warning("worker process %d%s %s after %.1fs; starting another in %.1fs",
                    child.index + 1, f" (pid {pid})" if pid else "", how, ran, pause)
        assert self._loop is not None
        timer: asyncio.TimerHandle

        def restart() -> None:
            self._timers.discard(timer)
            child.restarts += 1
            self._spawn(child)

        timer = self._loop.call_later(pause, restart)
        self._timers.add(timer)

    def _send_wake(self) -> None:
        self._wake_due = False
        for child in self.children:
            if child.sock is not None:
                # A full buffer means a wake is already waiting there; a closed one, a worker going away.
                with contextlib.suppress(OSError):
                    child.sock.send(WAKE)

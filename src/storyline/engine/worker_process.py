"""A worker in a process of its own: what ``storyline worker`` runs, and each of serve's worker processes.

    python -m storyline.engine.worker_process FD     (started by serve: engine/supervisor.py)

The first SIGTERM or SIGINT stops it claiming jobs; it finishes the ones it holds (within their
lease) and exits. A second one ends it at once: the jobs it held run again once their lease ends.
Started by serve, it also stops (the same way) when serve says so on its socket, or when serve's end
of it closes (serve died), and wakes up when serve sends a byte there (serve committed new jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

from storyline.config import Settings
from storyline.engine.service import Service
from storyline.engine.supervisor import READY, STOP, receive_orders

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(settings: Settings, *, concurrency: int | None = None, sock: socket.socket | None = None,
        started: Callable[[Service], None] | None = None) -> None:
    """Run a worker until it is told to stop; on uvloop, as serve's web process runs."""
    import uvloop

    uvloop.run(_main(settings, concurrency, sock, started))


async def _main(settings: Settings, concurrency: int | None, sock: socket.socket | None,
                started: Callable[[Service], None] | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def stop_signal() -> None:
        if stop.is_set():
            log.warning("stopping now; the jobs this worker held run again once their lease ends")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_signal)
    service = Service(settings, worker=True, concurrency=concurrency, worker_process=True)
    await service.start()
    try:
        if sock is not None:
            _listen(loop, sock, service, stop)
        if started is not None:
            started(service)
        await stop.wait()
    finally:
        await service.stop()


def _listen(loop: asyncio.AbstractEventLoop, sock: socket.socket, service: Service, stop: asyncio.Event) -> None:
    """serve's socket: a byte is a wake-up, the end of the stream is serve gone."""
    sock.setblocking(False)

    def readable() -> None:
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if STOP in data:
            stop.set()
        elif data:
            service.wake()
            return
        loop.remove_reader(sock.fileno())
        if not stop.is_set():
            log.warning("serve has gone; finishing this worker's jobs, then stopping")
            stop.set()

    loop.add_reader(sock.fileno(), readable)
    with contextlib.suppress(OSError):  # serve gone already: readable() sees the end of the stream
        sock.send(READY)


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    orders = receive_orders(sock)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    if orders.log_runs:
        logging.getLogger("storyline.runs").setLevel(logging.INFO)
    run(orders.settings, concurrency=orders.concurrency, sock=sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

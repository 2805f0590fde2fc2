"""Warm starts for short `storyline` commands: a real process each, without paying for the imports each time.

A command started as ``python -m storyline.cli`` spends most of its half second of CPU importing
SQLAlchemy, typer, rich, httpx, ... and the end-to-end tests run hundreds of commands. Here one
process per test process (the *zygote*) imports those libraries once, then forks for each command:
the command runs in a process of its own (its own pid, environment, working directory, standard
input, output and error, exit status) that imports storyline itself and runs ``storyline.cli`` as
``-m`` would, exiting through the interpreter's own exit (``SystemExit``, atexit, flushing).

The zygote imports nothing of storyline, so everything storyline reads at import time (the
environment, whether its output is a terminal) it reads in the command's process. It starts no
thread, so forking it is safe. Long-running processes (``serve``, ``worker``) and commands on a
terminal are still started from scratch (``processes.Process``): those tests are about processes.

Each request forks twice: a *waiter* forks the command and waits for it, so that the zygote takes
the next request at once (commands may run side by side) and the exit status is the waiter's to send.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ZYGOTE = r'''
import json, os, socket, sys, threading

# What storyline's commands load (store, CLI, accounts, credentials, egress, templating): imported once.
import alembic.command, alembic.config, alembic.runtime.migration, alembic.script
import argon2, click, croniter, cryptography.hazmat.primitives.ciphers.aead, httpx, liquid, orjson, psycopg
import pydantic, regex, rich.console, rich.markup, rich.progress, rich.table, tldextract, typer
import sqlalchemy, sqlalchemy.dialects.postgresql.psycopg, sqlalchemy.dialects.sqlite, sqlalchemy.engine
assert not any(name == "storyline" or name.startswith("storyline.") for name in sys.modules), "zygote loaded storyline"
assert threading.active_count() == 1, "a thread in the zygote: forking it would copy held locks"
# Without this a command's garbage collection walks every object imported here, touching (and so copying)
# the zygote's memory: the command then cost as much CPU as a cold start.
import gc
gc.freeze()


def serve(path):
    """Answer requests until the test process is gone; returns only in a command's process, with its request."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(0.5)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while os.getppid() == parent:
        while True:  # reap the waiters that are done
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        if os.fork() != 0:  # the zygote: on to the next request
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        listener.close()
        command = os.fork()
        if command == 0:
            conn.close()
            return json.loads(message), fds
        for fd in fds:
            os.close(fd)
        try:
            conn.send(json.dumps({"pid": command}).encode())
            _, status, usage = os.wait4(command, 0)
            conn.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status),
                                  "cpu": usage.ru_utime + usage.ru_stime}).encode())
        finally:
            os._exit(0)  # the caller may have given up (a timeout): nothing to say to it
    sys.exit(0)


request, fds = serve(sys.argv[1])
# From here on this is the command's process: `python -m storyline.cli ARGS`, with the caller's stdio,
# environment and working directory.
for target, fd in enumerate(fds):
    os.dup2(fd, target)
    os.close(fd)
os.environ.clear()
os.environ.update(request["env"])
os.chdir(request["cwd"])
sys.argv = ["storyline", *request["args"]]
del request, fds, serve
import runpy
runpy.run_module("storyline.cli", run_name="__main__", alter_sys=True)
'''


class Zygote:
    """The forking process of this test process, started at its first command and stopped at its exit."""

    def __init__(self) -> None:
        self._home = tempfile.mkdtemp(prefix="storyline-zygote-")
        self.path = str(Path(self._home) / "socket")
        self._proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, self.path], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, env=dict(os.environ))
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if ready != b"ready\n":
            raise RuntimeError(f"the zygote did not start (exit {self._proc.wait()})")

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        shutil.rmtree(self._home, ignore_errors=True)


_zygote: Zygote | None = None
commands: list[float] = []
"""The CPU seconds of each command run warm by this test process (its own CPU does not count them)."""
_lock = threading.Lock()


def _started() -> Zygote:
    global _zygote
    with _lock:
        if _zygote is None:
            _zygote = Zygote()
            atexit.register(_zygote.stop)
        return _zygote


def run(args: Sequence[str], *, env: Mapping[str, str] | None, stdin: str | None,
        timeout: float) -> subprocess.CompletedProcess[str]:
    """What ``subprocess.run([python, -m, storyline.cli, *args], capture_output=True, text=True, ...)`` gives."""
    zygote = _started()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin is not None else (os.open(os.devnull, os.O_RDONLY), -1)
    request = {"args": list(args), "env": dict(os.environ if env is None else env), "cwd": os.getcwd()}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = None
    try:
        conn.connect(zygote.path)
        socket.send_fds(conn, [json.dumps(request).encode()], [in_r, out_w, err_w])
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        if stdin is not None:
            threading.Thread(target=_feed, args=(in_w, stdin.encode()), daemon=True).start()
        pid = json.loads(conn.recv(4096))["pid"]
        stdout, stderr = _drain(out_r, err_r, time.monotonic() + timeout)
        ended = json.loads(conn.recv(4096))
        returncode = ended["returncode"]
        commands.append(ended["cpu"])
    except TimeoutError:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        raise subprocess.TimeoutExpired(["storyline", *args], timeout) from None
    finally:
        conn.close()
        os.close(out_r)
        os.close(err_r)
    return subprocess.CompletedProcess(["storyline", *args], returncode, _text(stdout), _text(stderr))


def _feed(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    except BrokenPipeError:
        pass  # the command did not read it all, as with subprocess.run


def _drain(out: int, err: int, deadline: float) -> tuple[bytes, bytes]:
    """Read both pipes to their end (the command's exit closes them); ``TimeoutError`` at ``deadline``."""
    chunks: dict[int, list[bytes]] = {out: [], err: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        reading = len(chunks)
        while reading:
            ready = selector.select(max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError
            for key, _ in ready:
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
                    reading -= 1
    return b"".join(chunks[out]), b"".join(chunks[err])


def _text(data: bytes) -> str:
    """As ``subprocess.run(text=True)`` decodes: the locale's encoding, universal newlines."""
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")

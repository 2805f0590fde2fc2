"""Real storyline processes for end-to-end tests: started, probed, killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e import warm
from tests.support import eventually

STORYLINE = [sys.executable, "-m", "storyline.cli"]
INHERITED = ("STORYLINE_SECRET_KEY", "STORYLINE_PASSWORD_HASH")
"""The test session's settings a storyline process keeps (tests/conftest.py sets them); no other."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


COLD = os.environ.get("STORYLINE_TEST_COLD_START") == "1"
"""Start every command from scratch instead of forking it warm (``tests/e2e/warm.py``): to compare the two."""


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``storyline ARGS`` in a process of its own, its output captured; forked warm unless ``COLD``."""
    if COLD:
        result = subprocess.run([*STORYLINE, *args], capture_output=True, text=True, env=env, timeout=120,
                                input=stdin)
    else:
        result = warm.run(args, env=env, stdin=stdin, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"storyline {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def cli_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(cli(*args, "--json", env=env).stdout)


class Process:
    """A storyline command running in the background, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen([*STORYLINE, *args], env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush; what a power cut or OOM killer does to a process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def serve(port: int, env: dict[str, str], log: Path, *extra: str) -> Process:
    process = Process(["serve", "--port", str(port), *extra], env, log)

    def healthy() -> bool:
        if process.proc.poll() is not None:
            raise AssertionError(f"storyline serve exited:\n{process.output()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(healthy, 30, lambda: f"storyline serve healthy:\n{process.output()}")
    except BaseException:
        process.stop()
        raise
    return process


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYLINE_") or k in INHERITED}
    env.update({"STORYLINE_DATABASE_URL": database_url, "STORYLINE_SQLITE_SYNCHRONOUS": "NORMAL", **extra})
    return env

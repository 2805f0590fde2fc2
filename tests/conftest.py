"""Fixtures shared by every test: a fresh database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import sqlalchemy as sa

from storyline.store.db import HEAD, make_engine, upgrade
from storyline.store.tables import metadata
from tests import postgres
from tests.fakes.botframework import FakeBotFramework
from tests.fakes.enrichment import FakeEnrichment
from tests.fakes.httpbin import FakeHttpbin
from tests.fakes.slack import FakeSlack
from tests.fakes.virustotal import FakeVirusTotal

# PostgreSQL has no key file beside it: every process of a test shares this key.
TEST_SECRET_KEY = "c3RvcnlsaW5lLXRlc3Qta2V5LW5vdC1hLXNlY3JldCE"
os.environ.setdefault("STORYLINE_SECRET_KEY", TEST_SECRET_KEY)
# Still argon2id, hashed and verified, at the least cost: hundreds of hashes at the recommended one took
# a minute of the suite's CPU. tests/unit/test_accounts.py holds the production default to RFC 9106's.
TEST_PASSWORD_HASH = "t=1,m=64,p=1"
os.environ.setdefault("STORYLINE_PASSWORD_HASH", TEST_PASSWORD_HASH)

_postgres: postgres.Choice | None = None
_session_started = pytest.StashKey[float]()

# The fuzz tests draw the same examples on every run, so a red CI is one anyone can run again;
# STORYLINE_FUZZ=explore draws fresh ones (what a fuzzing session should do, then keep what it finds).
hypothesis.settings.register_profile("storyline", derandomize=True, database=None)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile("explore" if os.environ.get("STORYLINE_FUZZ") == "explore" else "storyline")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="browser tests save their screenshots here (default: test-output/screenshots)")


def screenshots_dir(config: pytest.Config) -> Path:
    """Where the browser tests save a screenshot of each page they visit: not committed (.gitignore)."""
    chosen = config.getoption("--screenshots")
    return Path(chosen).resolve() if chosen else config.rootpath / "test-output" / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    """Choose the PostgreSQL server once, before xdist starts its workers (which inherit the choice)."""
    global _postgres
    config.stash[_session_started] = time.time()
    if hasattr(config, "workerinput"):  # an xdist worker: the controller chose
        return
    _postgres = postgres.Choice()
    _postgres.hand_on()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _postgres is not None:
        _postgres.stop()


def pytest_report_header(config: pytest.Config) -> str:
    if _postgres is None:
        return ""
    return f"postgresql: {_postgres.url or _postgres.problem} ({_postgres.origin})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say where this run's screenshots are (even under -q, which hides the header)."""
    if hasattr(config, "workerinput"):
        return
    directory = screenshots_dir(config)
    started = config.stash[_session_started]
    taken = [p for p in directory.glob("*.png") if p.stat().st_mtime >= started] if directory.is_dir() else []
    if taken:
        terminalreporter.write_line(f"{len(taken)} browser screenshots in {directory}")


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config) -> Path:
    directory = screenshots_dir(pytestconfig)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class Schemas:
    """This test process's PostgreSQL schemas, at the newest migration: each test has one to itself, emptied
    afterwards for the next.

    Creating a schema and migrating it took a quarter of a second per test (most of it PostgreSQL's
    catalog work); deleting a test's rows and restarting the sequences takes a few milliseconds. A
    schema a test left other than it found it (another migration, a table more or less) is dropped.
    """

    def __init__(self, server: str) -> None:
        self.server = server
        self.admin = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1))
        self._free: list[str] = []

    def take(self) -> str:
        if self._free:
            return self._free.pop()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        try:
            with self.admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        except sa.exc.OperationalError as exc:
            pytest.fail(f"PostgreSQL at {self.server} is not reachable ({exc.orig}); start it (see DEVELOPERS.md)")
        engine = make_engine(self.url(schema))
        upgrade(engine)  # as a SQLite test's copy of the template is
        engine.dispose()
        return schema

    def url(self, schema: str) -> str:
        return f"{self.server}{'&' if '?' in self.server else '?'}options=-csearch_path%3D{schema}"

    def give_back(self, schema: str) -> None:
        try:
            emptied = self._empty(schema)
        except sa.exc.DBAPIError:
            emptied = False
        if emptied:
            self._free.append(schema)
        else:
            self._drop(schema)

    def _empty(self, schema: str) -> bool:
        """Delete every row a test wrote, if the schema is still as the newest migration leaves it."""
        with self.admin.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")  # a process still holding a table: drop it
            found = set(conn.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %(s)s", {"s": schema},
            ).scalars())
            tables = [table.name for table in reversed(metadata.sorted_tables)]  # children before parents
            if found != {*tables, "alembic_version"}:
                return False
            if conn.exec_driver_sql(f"SELECT version_num FROM {schema}.alembic_version").scalars().all() != [HEAD]:
                return False
            sequences = conn.exec_driver_sql(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = %(s)s", {"s": schema},
            ).scalars().all()
            conn.exec_driver_sql("; ".join([*(f"DELETE FROM {schema}.{name}" for name in tables),
                                            *(f"ALTER SEQUENCE {schema}.{name} RESTART" for name in sequences)]))
        return True

    def _drop(self, schema: str) -> None:
        with self.admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")

    def close(self) -> None:
        for schema in self._free:
            self._drop(schema)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[Schemas]:
    try:
        server = postgres.url()
    except LookupError as exc:
        pytest.fail(f"{exc} (see DEVELOPERS.md)")
    schemas = Schemas(server)
    yield schemas
    schemas.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest migration and without rows, made once: each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "storyline.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed into the file and removed
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own at the newest migration, without rows: a SQLite file copied from
    ``sqlite_template`` (migrating each took a fifth of a second on a busy machine), or a PostgreSQL
    schema (``Schemas``). Tests of migrations from an empty database make their own."""
    if request.param == "sqlite":
        path = tmp_path / "storyline.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        path.chmod(0o600)
        yield f"sqlite:///{path}"
        return
    schemas: Schemas = request.getfixturevalue("pg_schemas")
    schema = schemas.take()
    try:
        yield schemas.url(schema)
    finally:
        schemas.give_back(schema)


# Fake upstreams: one server each per test session, forgotten between tests.


@pytest.fixture(scope="session")
def vt_server() -> Iterator[FakeVirusTotal]:
    with FakeVirusTotal(api_key="vt-key") as server:
        yield server


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-good", users={"ana@example.com": {"id": "U0ANA"}}) as server:
        yield server


@pytest.fixture(scope="session")
def bin_server() -> Iterator[FakeHttpbin]:
    with FakeHttpbin() as server:
        yield server


@pytest.fixture(scope="session")
def bot_server() -> Iterator[FakeBotFramework]:
    """A Bot Framework with the default app id; files that need another define their own."""
    with FakeBotFramework() as server:
        yield server


@pytest.fixture
def bot(bot_server: FakeBotFramework) -> Iterator[FakeBotFramework]:
    bot_server.reset()
    yield bot_server
    bot_server.reset()


@pytest.fixture(scope="session")
def intel_server() -> Iterator[FakeEnrichment]:
    with FakeEnrichment() as server:
        yield server


@pytest.fixture
def intel(intel_server: FakeEnrichment) -> Iterator[FakeEnrichment]:
    intel_server.reset()
    yield intel_server
    intel_server.reset()


@pytest.fixture
def vt(vt_server: FakeVirusTotal) -> Iterator[FakeVirusTotal]:
    vt_server.reset()
    yield vt_server
    vt_server.reset()


@pytest.fixture
def slack(slack_server: FakeSlack) -> Iterator[FakeSlack]:
    slack_server.reset()
    yield slack_server
    slack_server.reset()


@pytest.fixture
def httpbin(bin_server: FakeHttpbin) -> Iterator[FakeHttpbin]:
    bin_server.reset()
    yield bin_server
    bin_server.reset()

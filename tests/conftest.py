"""Fixtures shared by every test: a fresh database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import sqlalchemy as sa

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

# The fuzz tests draw the same examples on every run, so a red CI is one anyone can run again;
# STORYLINE_FUZZ=explore draws fresh ones (what a fuzzing session should do, then keep what it finds).
hypothesis.settings.register_profile("storyline", derandomize=True, database=None)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile("explore" if os.environ.get("STORYLINE_FUZZ") == "explore" else "storyline")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="browser tests save their screenshots here (default: each test's tmp_path)")


def pytest_configure(config: pytest.Config) -> None:
    """Choose the PostgreSQL server once, before xdist starts its workers (which inherit the choice)."""
    global _postgres
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/storyline.db"
        return
    try:
        server = postgres.url()
    except LookupError as exc:
        pytest.fail(f"{exc} (see DEVELOPERS.md)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {server} is not reachable ({exc.orig}); start it (see DEVELOPERS.md)")
    sep = "&" if "?" in server else "?"
    try:
        yield f"{server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


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

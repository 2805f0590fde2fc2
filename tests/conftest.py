"""Fixtures shared by every test: a fresh database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fakes.enrichment import FakeEnrichment
from tests.fakes.httpbin import FakeHttpbin
from tests.fakes.slack import FakeSlack
from tests.fakes.virustotal import FakeVirusTotal

PG_URL = os.environ.get("STORYLINE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# PostgreSQL has no key file beside it: every process of a test shares this key.
TEST_SECRET_KEY = "c3RvcnlsaW5lLXRlc3Qta2V5LW5vdC1hLXNlY3JldCE"
os.environ.setdefault("STORYLINE_SECRET_KEY", TEST_SECRET_KEY)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/storyline.db"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({exc.orig}); start it (see DEVELOPERS.md)")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
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

"""Engines for SQLite (embedded default) and PostgreSQL (scale-out), and schema upgrades."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Users write postgresql://; SQLAlchemy needs to be told to use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


LOCKS_HELD = "storyline.locks_held"
"""Set in ``conn.info`` by ``lock_key``: the batching writer commits after such an operation."""


def lock_key(conn: sa.Connection, *parts: object) -> None:
    """Serialise transactions that touch the same key, and only those, until this one ends.

    A PostgreSQL transaction-scoped advisory lock on a hash of ``parts``; nothing on
    SQLite, whose single writer already serialises. Locking rows that many keys share
    (an action's row) instead would queue unrelated requests behind each other and,
    with batched writes, deadlock.
    """
    if conn.dialect.name != "postgresql":
        return
    conn.info[LOCKS_HELD] = True
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock_detected and serialization_failure: the transaction may simply be run again."""


def is_transient(exc: BaseException) -> bool:
    """Whether the database aborted the transaction for its own reasons, not for anything in it."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def make_engine(url: str, *, synchronous: str = "FULL", **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the CLI read while serve writes; busy_timeout rides out a
            # second writer (another CLI command) instead of failing at once.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # pysqlite's own transaction handling is off (isolation_level=None), so
            # begin explicitly; IMMEDIATE takes the write lock up front and avoids
            # deadlocking upgrades between two writers.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_pre_ping=True,
        **kwargs,
    )


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; cheap when already there."""
    command.upgrade(alembic_config(engine), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

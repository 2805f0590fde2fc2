"""Engines for SQLite (embedded default) and PostgreSQL (scale-out), and schema upgrades."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url

from storyline import jsondata

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Users write postgresql://; SQLAlchemy needs to be told to use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class JsonText(str):
    """JSON already written by ``json_text``: stored as it is, so a writer that counts bytes encodes once."""

    size: int
    """Its length in bytes (UTF-8)."""


def json_text(value: Any) -> JsonText:
    """``value`` as JSON text for a JSON column; raises ``jsondata.JsonError`` when it cannot be written."""
    data = jsondata.dumpb(value)
    text = JsonText(data.decode())
    text.size = len(data)
    return text


def _json_dumps(value: Any) -> str:
    if isinstance(value, JsonText):
        return value
    return jsondata.dumps(value)


def _json_loads(text: str | bytes) -> Any:
    # What is stored was checked on the way in; reading it is not the place to refuse it.
    return jsondata.loads(text, max_depth=None)


READS_ONLY = "storyline_reads_only"
"""Execution option of a connection that never writes: on SQLite it then takes no write lock."""


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


def row_locked(conn: sa.Connection) -> None:
    """The transaction has updated a row that other operations update too (a story run's byte count).

    On PostgreSQL that row stays locked until commit, so, as after ``lock_key``, the
    batching writer commits right after this operation rather than hold the lock while
    the next operation waits for another.
    """
    if conn.dialect.name == "postgresql":
        conn.info[LOCKS_HELD] = True


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock_detected and serialization_failure: the transaction may simply be run again."""


def is_transient(exc: BaseException) -> bool:
    """Whether the database aborted the transaction for its own reasons, not for anything in it."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def _create_private(url: str) -> None:
    """Create a SQLite database file readable by its owner only, before SQLite creates it 0644.

    Events hold what webhooks received and upstreams answered. SQLite gives the -wal,
    -shm and -journal files the mode of the database file, so they follow.
    """
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:") or not Path(path).parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        # A database created before storyline made its files private: tighten it and its companions.
        for existing in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
            with contextlib.suppress(OSError):
                if os.stat(existing).st_mode & 0o077:
                    os.chmod(existing, 0o600)


def make_engine(url: str, *, synchronous: str = "FULL", **kwargs: Any) -> Engine:
    url = normalise_url(url)
    # Statement parameters are event data, credentials' ciphertext, ...: never in an error's text (or a log).
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _create_private(url)
        engine = sa.create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=_json_loads,
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
            # deadlocking upgrades between two writers. A connection that only reads
            # (``READS_ONLY``) takes no lock: in WAL mode it reads its snapshot while
            # others write, instead of making every writer, in every process, wait.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READS_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
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

"""Database figures for the benchmark: how many bytes storyline writes per story run.

Run with the project's venv python (it uses SQLAlchemy and psycopg from there):

    dbstats.py pg-create ADMIN_URL NAME        create database NAME, print its URL
    dbstats.py pg-drop ADMIN_URL NAME          drop it again
    dbstats.py snapshot --db URL [--pid PID] [--checkpoint] --out FILE
    dbstats.py report --result RESULT.json --before A.json --after B.json [--final C.json]

A snapshot records row counts (story runs, events, jobs by status, completed runs, error logs),
storage (SQLite: file sizes and page_count * page_size; PostgreSQL: pg_total_relation_size of every
table, pg_database_size, the WAL position and the database's commit counter) and, with --pid, the
bytes that process has written to the block layer (/proc/PID/io write_bytes). ``report`` turns a
before/after pair (taken around bench.js) and an optional final snapshot (SQLite: after serve has
stopped, checkpointed) into per-run figures and stores them under "storyline_db" in the result file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import time
from typing import Any
from urllib.parse import unquote, urlsplit

SLACK_ACTION_KEY = "post_to_slack"


def _pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path="/" + name, query="").geturl()


def _sqlite_path(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise SystemExit(f"not a sqlite URL: {url}")
    return unquote(url[len("sqlite:///"):].split("?", 1)[0])


def _proc_io(pid: int | None) -> dict[str, int] | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/io") as fh:
            return {k: int(v) for k, v in (line.split(": ") for line in fh.read().splitlines())}
    except OSError:
        return None


COUNTS_SQL = {
    "story_runs": "SELECT count(*) FROM story_runs",
    "events": "SELECT count(*) FROM events",
    "jobs": "SELECT count(*) FROM jobs",
    "jobs_pending": "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
    "jobs_failed": "SELECT count(*) FROM jobs WHERE status = 'failed'",
    "logs": "SELECT count(*) FROM logs",
    "logs_error": "SELECT count(*) FROM logs WHERE level = 'error'",
    # A completed reference run has posted to Slack for both of its domains.
    "completed_runs": (
        "SELECT count(*) FROM (SELECT e.story_run FROM events e JOIN actions a ON a.id = e.action_id "
        f"WHERE a.key = '{SLACK_ACTION_KEY}' GROUP BY e.story_run HAVING count(*) >= 2) done"
    ),
}


def _sqlite_snapshot(url: str, checkpoint: bool) -> dict[str, Any]:
    path = _sqlite_path(url)
    snap: dict[str, Any] = {"engine": "sqlite", "path": path}
    files = {}
    for suffix in ("", "-wal", "-shm"):
        try:
            files["db" + suffix.replace("-", "_")] = os.path.getsize(path + suffix)
        except OSError:
            files["db" + suffix.replace("-", "_")] = 0
    snap["file_bytes"] = files
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if checkpoint:
            snap["checkpoint"] = list(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        freelist = conn.execute("PRAGMA freelist_count").fetchone()[0]
        snap["page_size"] = page_size
        snap["page_count"] = page_count
        snap["freelist_count"] = freelist
        snap["pages_bytes"] = page_size * page_count
        snap["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
        snap["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
        snap["counts"] = {k: conn.execute(q).fetchone()[0] for k, q in COUNTS_SQL.items()}
        try:
            snap["tables"] = {
                name: size for name, size in conn.execute(
                    "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
            }
        except sqlite3.Error:  # dbstat is an optional compile-time module
            snap["tables"] = None
    finally:
        conn.close()
    if checkpoint:
        snap["file_bytes_after_checkpoint"] = {
            "db": os.path.getsize(path),
            "db_wal": os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0,
        }
    return snap


def _pg_snapshot(url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(_pg_url(url))
    snap: dict[str, Any] = {"engine": "postgresql"}
    try:
        with engine.connect() as conn:
            q = conn.exec_driver_sql
            snap["database"] = q("SELECT current_database()").scalar_one()
            snap["schema"] = q("SELECT current_schema()").scalar_one()
            snap["wal_lsn"] = q("SELECT pg_current_wal_lsn()::text").scalar_one()
            snap["database_bytes"] = q("SELECT pg_database_size(current_database())").scalar_one()
            rows = q(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 2 DESC"
            ).all()
            snap["tables"] = {name: int(size) for name, size in rows}
            snap["relation_bytes"] = sum(snap["tables"].values())
            stat = q(
                "SELECT xact_commit, xact_rollback, blks_read, tup_inserted, tup_updated, tup_deleted "
                "FROM pg_stat_database WHERE datname = current_database()"
            ).mappings().one()
            snap["pg_stat_database"] = {k: int(v) for k, v in stat.items()}
            snap["other_active_backends"] = q(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
                "AND datname IS DISTINCT FROM current_database()"
            ).scalar_one()
            snap["counts"] = {k: q(sql).scalar_one() for k, sql in COUNTS_SQL.items()}
    finally:
        engine.dispose()
    return snap


def snapshot(url: str, pid: int | None, checkpoint: bool) -> dict[str, Any]:
    snap = _sqlite_snapshot(url, checkpoint) if url.startswith("sqlite") else _pg_snapshot(url)
    snap["at"] = time.time()
    snap["pid"] = pid
    snap["proc_io"] = _proc_io(pid)
    return snap


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def _per(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return round(num / den, 1)


def report(before: dict[str, Any], after: dict[str, Any], final: dict[str, Any] | None) -> dict[str, Any]:
    runs = after["counts"]["story_runs"]
    runs_window = runs - before["counts"]["story_runs"]
    out: dict[str, Any] = {
        "engine": after["engine"],
        "story_runs_total": runs,
        "story_runs_during_bench": runs_window,
        "completed_runs_total": after["counts"]["completed_runs"],
        "counts_after": after["counts"],
        "tables_after": after.get("tables"),
    }
    io0, io1 = before.get("proc_io"), after.get("proc_io")
    if io0 and io1:
        written = io1["write_bytes"] - io0["write_bytes"]
        out["serve_process_write_bytes"] = written
        out["serve_process_write_bytes_per_run"] = _per(written, runs_window)
    if after["engine"] == "sqlite":
        files = after["file_bytes"]
        live = files["db"] + files["db_wal"]
        out["db_plus_wal_bytes"] = live
        out["db_plus_wal_bytes_per_run"] = _per(live, runs)
        out["db_pages_bytes"] = after["pages_bytes"]
        out["db_pages_bytes_per_run"] = _per(after["pages_bytes"], runs)
        out["synchronous"] = after["synchronous"]
        out["journal_mode"] = after["journal_mode"]
        if final:
            used = (final["page_count"] - final["freelist_count"]) * final["page_size"]
            out["checkpointed_db_bytes"] = final["pages_bytes"]
            out["checkpointed_db_bytes_per_run"] = _per(final["pages_bytes"], final["counts"]["story_runs"])
            out["checkpointed_used_bytes_per_run"] = _per(used, final["counts"]["story_runs"])
            out["tables_after"] = final.get("tables") or out["tables_after"]
        out["bytes_per_run"] = out.get("checkpointed_db_bytes_per_run") or out["db_plus_wal_bytes_per_run"]
    else:
        out["relation_bytes"] = after["relation_bytes"]
        out["relation_bytes_per_run"] = _per(after["relation_bytes"], runs)
        out["database_bytes"] = after["database_bytes"]
        wal = _lsn(after["wal_lsn"]) - _lsn(before["wal_lsn"])
        out["wal_bytes"] = wal
        out["wal_bytes_per_run"] = _per(wal, runs_window)
        out["wal_note"] = ("pg_current_wal_lsn() difference around bench.js; cluster-wide, so it includes "
                           "WAL from any other database on the server during the run")
        out["other_active_backends_before_after"] = [before.get("other_active_backends"),
                                                     after.get("other_active_backends")]
        c0, c1 = before["pg_stat_database"], after["pg_stat_database"]
        out["commits_per_run"] = _per(c1["xact_commit"] - c0["xact_commit"], runs_window)
        out["rows_inserted_per_run"] = _per(c1["tup_inserted"] - c0["tup_inserted"], runs_window)
        out["rows_updated_per_run"] = _per(c1["tup_updated"] - c0["tup_updated"], runs_window)
        out["bytes_per_run"] = out["relation_bytes_per_run"]
    return out


def log_summary(path: str) -> dict[str, Any]:
    with open(path, errors="replace") as fh:
        lines = fh.read().splitlines()
    errors = [ln for ln in lines if re.search(r"\b(ERROR|CRITICAL)\b", ln)]
    warnings = [ln for ln in lines if re.search(r"\bWARNING\b", ln)]
    return {
        "lines": len(lines),
        "errors": len(errors),
        "warnings": len(warnings),
        "tracebacks": sum(1 for ln in lines if ln.startswith("Traceback")),
        "first_errors": errors[:5],
        "first_warnings": warnings[:5],
        "tail": lines[-20:],
    }


def _load(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    with open(path) as fh:
        return json.load(fh)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pg-create")
    p.add_argument("admin_url")
    p.add_argument("name")
    p = sub.add_parser("pg-drop")
    p.add_argument("admin_url")
    p.add_argument("name")
    p = sub.add_parser("snapshot")
    p.add_argument("--db", required=True)
    p.add_argument("--pid", type=int)
    p.add_argument("--checkpoint", action="store_true", help="SQLite: PRAGMA wal_checkpoint(TRUNCATE) first")
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--result", required=True)
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--final")
    p.add_argument("--log", help="serve's log file: count errors, warnings and tracebacks")
    args = parser.parse_args(argv)

    if args.cmd in ("pg-create", "pg-drop"):
        import sqlalchemy as sa

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.name):
            raise SystemExit(f"bad database name {args.name!r}")
        engine = sa.create_engine(_pg_url(args.admin_url), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if args.cmd == "pg-create":
                    conn.exec_driver_sql(f"CREATE DATABASE {args.name}")
                    print(_with_database(args.admin_url, args.name))
                else:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {args.name} WITH (FORCE)")
        finally:
            engine.dispose()
        return 0
    if args.cmd == "snapshot":
        snap = snapshot(args.db, args.pid, args.checkpoint)
        with open(args.out, "w") as fh:
            json.dump(snap, fh, indent=2)
        return 0
    # report
    figures = report(_load(args.before), _load(args.after), _load(args.final))
    with open(args.result) as fh:
        result = json.load(fh)
    result["storyline_db"] = figures
    if args.log:
        result["serve_log"] = log_summary(args.log)
        figures_log = result["serve_log"]
        print(f"serve log: {figures_log['lines']} lines, {figures_log['errors']} errors, "
              f"{figures_log['warnings']} warnings, {figures_log['tracebacks']} tracebacks", file=sys.stderr)
    with open(args.result, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    brief = {k: v for k, v in figures.items() if not k.startswith(("tables", "counts"))}
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""bench/console.py keeps working: a tiny seed on SQLite, then every page timed, as the full run does.

The suite does not run the benchmark at its real size (1,000,000 events, minutes); this runs the same
code at 2,000 events, so a change to the store, the console or the script that breaks the benchmark
is found here rather than by whoever measures next.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "console.py"


def test_the_console_benchmark_seeds_a_database_times_every_page_and_removes_what_it_made(tmp_path: Path) -> None:
    database = tmp_path / "bench.db"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--database-url", f"sqlite:///{database}", "--events", "2000",
         "--requests", "2", "--warmup", "1", "--graph-samples", "1", "--results", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "console-sqlite-2000.json").read_text())
    assert (report["events"], report["runs"]) == (2000, 200)
    paths = [row["path"].split("?")[0] for row in report["pages"]]
    for page in ("/stories", "/runs", "/events", "/credentials", "/resources", "/packs", "/audit", "/users",
                 "/tokens", "/playground", "/api/v1/events", "/api/v1/story_runs"):
        assert page in paths, page
    assert any(path.startswith("/stories/") for path in paths) and any(path.startswith("/runs/") for path in paths)
    assert all(row["p95_ms"] > 0 for row in report["pages"])
    assert "| /events?text= (rare: reads 20,000) |" in result.stdout
    assert not database.exists()  # a database the benchmark seeded is dropped unless --keep

"""Ratios of storyline's figures to each peer's, and storyline's bytes written per story run.

    compare.py RESULT.json...

Reads result files written by ../shared/bench-peers/bench.js (storyline's also carry the
"storyline_db" section that dbstats.py adds). For every storyline result (system name starting
with "storyline") and every other result, prints one line: acks/s ratio, p99 ratio, story runs/s
ratio, CPU per story run ratio and peak RSS ratio (storyline / peer; > 1 means storyline has more
of it). CPU per run is the CPU seconds of the system's processes over the load and the drain
divided by the story runs completed in that time; for storyline, of serve and every process it
started (bench/proctree.py), for a peer, of its one process.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "n/a"
    return f"{a / b:.2f}x"


def _fig(r: dict[str, Any]) -> dict[str, float | None]:
    m = r["measure"]
    return {
        "acks": m["acks_per_s"],
        "p99": m["latency_ms"]["p99"],
        "runs": m["story_runs_per_s"],
        "rss": (m.get("proc") or {}).get("peak_rss_mb"),
        "cpu": cpu_ms_per_run(r),
    }


def cpu_ms_per_run(r: dict[str, Any]) -> float | None:
    """CPU ms per completed story run over load + drain (the whole process tree's, when known)."""
    m = r["measure"]
    tree = m.get("proc_tree")
    if tree and tree.get("cpu_ms_per_completed_run") is not None:
        return float(tree["cpu_ms_per_completed_run"])
    cpu = (m.get("proc") or {}).get("cpu_s_load_and_drain")
    runs = m.get("story_runs")
    return round(1000 * cpu / runs, 2) if cpu is not None and runs else None


def _kib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1024:.1f} KiB"


def main(files: list[str]) -> int:
    results = []
    for path in files:
        with open(path) as fh:
            r = json.load(fh)
        r["_file"] = path
        results.append(r)
    ours = [r for r in results if str(r["system"]).startswith("storyline")]
    peers = [r for r in results if not str(r["system"]).startswith("storyline")]
    print()
    print("CPU per completed story run (load + drain; storyline: serve and all its processes)")
    for r in results:
        cpu = cpu_ms_per_run(r)
        procs = (r["measure"].get("proc_tree") or {}).get("processes")
        print(f"  {r['system']}: {'n/a' if cpu is None else f'{cpu:.2f} ms'}"
              + (f" ({procs} processes)" if procs else ""))
    if ours and peers:
        print("Ratios (storyline / peer; acks/s and runs/s: higher is better; p99 and peak RSS: lower is better)")
        for r in ours:
            a = _fig(r)
            for p in peers:
                b = _fig(p)
                print(
                    f"  {r['system']} vs {p['system']} ({p.get('date', '')[:10]}): "
                    f"acks/s {_ratio(a['acks'], b['acks'])}, p99 {_ratio(a['p99'], b['p99'])}, "
                    f"story runs/s {_ratio(a['runs'], b['runs'])}, CPU per run {_ratio(a['cpu'], b['cpu'])}, "
                    f"peak RSS {_ratio(a['rss'], b['rss'])}"
                )
    sqlite = [r for r in ours if r.get("storyline_db", {}).get("engine") == "sqlite"]
    for r in ours:
        if r.get("storyline_db", {}).get("engine") != "postgresql":
            continue
        for base in sqlite:
            a, b = _fig(r), _fig(base)
            print(f"  {r['system']} vs {base['system']}: acks/s {_ratio(a['acks'], b['acks'])}, "
                  f"story runs/s {_ratio(a['runs'], b['runs'])}, CPU per run {_ratio(a['cpu'], b['cpu'])}")
    for r in ours:
        d = r.get("storyline_db")
        if not d:
            continue
        if d["engine"] == "sqlite":
            print(
                f"  {r['system']} bytes per story run (SQLite, synchronous={d.get('synchronous')}): "
                f"db after checkpoint {_kib(d.get('checkpointed_db_bytes_per_run'))}, "
                f"db+wal while serving {_kib(d.get('db_plus_wal_bytes_per_run'))}, "
                f"written to disk by serve {_kib(d.get('serve_process_write_bytes_per_run'))} "
                f"({d['story_runs_total']} runs, {d['completed_runs_total']} completed)"
            )
        else:
            print(
                f"  {r['system']} bytes per story run (PostgreSQL): tables+indexes "
                f"{_kib(d.get('relation_bytes_per_run'))}, WAL {_kib(d.get('wal_bytes_per_run'))}, "
                f"commits/run {d.get('commits_per_run')} "
                f"({d['story_runs_total']} runs, {d['completed_runs_total']} completed)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""CPU and memory of a process and all its descendants, sampled while the benchmark runs.

    proctree.py sample --pid PID [--pid PID...] [--also NAME] --out SAMPLES.jsonl [--interval 0.25]
    proctree.py report --samples SAMPLES.jsonl --result RESULT.json

Why: bench.js reads one PID's /proc/PID/stat, which counts a child's CPU only once the child
has exited and been waited for. `storyline serve --workers N` does its work in N worker
processes that live as long as serve, so the figure that compares with a one-process peer is
the CPU of the whole tree: serve, its workers, and any `storyline worker` started beside it.

``sample`` writes one JSON line per interval until it is stopped (SIGTERM or SIGINT): the time,
the tree's CPU seconds (utime + stime + the reaped children's cutime + cstime, summed over every
live process of the tree, so a worker that was restarted still counts), the sum of the processes'
RSS, the sum of their peak RSS (VmHWM), and how many processes there were. With ``--also NAME``,
also the CPU seconds of the processes (outside the tree) whose command line names NAME: the
PostgreSQL backends serving the benchmark's database, so that the database server's CPU per
story run can be stated too.

``report`` takes the samples at the measured window of a bench.js result (from ``load_start``
to the end of the drain) and writes "proc_tree" into the result's "measure": CPU seconds during
the load and over load + drain, CPU ms per completed story run, and the peak memory. It also puts
the tree's CPU and peak memory in ``measure.proc`` (the columns bench.js's table prints), keeping
bench.js's own one-process figures as ``measure.proc_root_only``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime
from typing import Any

HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / HZ


def _kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _all() -> dict[int, tuple[int, float]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                stats[int(entry)] = st
    return stats


def _named(name: str) -> dict[int, float]:
    """The processes whose command line contains ``name`` (a database's PostgreSQL backends), with their CPU."""
    found = {}
    for pid, (_, cpu) in _all().items():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if name.encode() in fh.read():
                    found[pid] = cpu
        except OSError:
            continue
    return found


def tree(roots: list[int]) -> dict[int, float]:
    """Every live process under ``roots`` (the roots included), with its CPU seconds."""
    stats = _all()
    members = {pid for pid in roots if pid in stats}
    grew = True
    while grew:
        added = {pid for pid, (ppid, _) in stats.items() if ppid in members and pid not in members}
        members |= added
        grew = bool(added)
    return {pid: stats[pid][1] for pid in members}


def sample(roots: list[int], also: str | None = None) -> dict[str, Any]:
    members = tree(roots)
    taken = {
        "t": time.time(),
        "cpu_s": round(sum(members.values()), 2),
        "rss_mb": round(sum(_kib(pid, "VmRSS") for pid in members) / 1024, 1),
        "hwm_mb": round(sum(_kib(pid, "VmHWM") for pid in members) / 1024, 1),
        "processes": len(members),
    }
    if also:
        named = _named(also)
        taken.update(also_cpu_s=round(sum(named.values()), 2), also_processes=len(named))
    return taken


def run_sampler(roots: list[int], out: str, interval: float, also: str | None = None) -> int:
    stop = False

    def halt(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    with open(out, "a") as fh:
        while not stop:
            fh.write(json.dumps(sample(roots, also)) + "\n")
            fh.flush()
            time.sleep(interval)
        fh.write(json.dumps(sample(roots, also)) + "\n")
    return 0


def _at(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """The last sample taken at or before ``t`` (the first one if none was)."""
    before = [s for s in samples if s["t"] <= t]
    return before[-1] if before else samples[0]


def window(samples: list[dict[str, Any]], measure: dict[str, Any]) -> dict[str, Any]:
    start = datetime.fromisoformat(measure["load_start"].replace("Z", "+00:00")).timestamp()
    load_end = start + measure["load_wall_s"]
    end = load_end + measure["drain_wait_s"]
    s0, s1, s2 = _at(samples, start), _at(samples, load_end), _at(samples, end)
    inside = [s for s in samples if start <= s["t"] <= end] or [s2]
    cpu = round(s2["cpu_s"] - s0["cpu_s"], 2)
    runs = measure.get("story_runs") or 0
    figures: dict[str, Any] = {}
    if "also_cpu_s" in s2:
        also = round(s2["also_cpu_s"] - s0["also_cpu_s"], 2)
        figures = {"database_backends_cpu_s_load_and_drain": also,
                   "database_backends_cpu_ms_per_completed_run": round(1000 * also / runs, 2) if runs else None,
                   "database_backends": max(s["also_processes"] for s in inside)}
    return {
        **figures,
        "processes": max(s["processes"] for s in inside),
        "cpu_s_during_load": round(s1["cpu_s"] - s0["cpu_s"], 2),
        "cpu_s_load_and_drain": cpu,
        "cpu_ms_per_completed_run": round(1000 * cpu / runs, 2) if runs else None,
        "peak_rss_mb": max(s["hwm_mb"] for s in inside),
        "peak_rss_sum_sampled_mb": max(s["rss_mb"] for s in inside),
        "note": "serve and every descendant (and any storyline worker beside it), sampled every "
                f"{round(samples[1]['t'] - samples[0]['t'], 2) if len(samples) > 1 else '?'} s; "
                "peak_rss_mb sums each process's own peak (VmHWM)",
    }


def report(samples_path: str, result_path: str) -> dict[str, Any]:
    with open(samples_path) as fh:
        samples = [json.loads(line) for line in fh if line.strip()]
    with open(result_path) as fh:
        result = json.load(fh)
    measure = result["measure"]
    figures = window(samples, measure)
    measure["proc_tree"] = figures
    if measure.get("proc") and "proc_root_only" not in measure:
        measure["proc_root_only"] = dict(measure["proc"])
        measure["proc"].update(cpu_s_during_load=figures["cpu_s_during_load"],
                               cpu_s_load_and_drain=figures["cpu_s_load_and_drain"],
                               peak_rss_mb=figures["peak_rss_mb"])
    with open(result_path, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sample")
    p.add_argument("--pid", type=int, action="append", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.25)
    p.add_argument("--also", help="also sum the CPU of processes whose command line contains this")
    p = sub.add_parser("report")
    p.add_argument("--samples", required=True)
    p.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "sample":
        return run_sampler(args.pid, args.out, args.interval, args.also)
    figures = report(args.samples, args.result)
    print(json.dumps(figures), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The worker alone on the reference workload: CPU per completed story run, on a busy machine.

    worker_drain.py ingest --runs N --out DB_FILE        webhooks accepted by `serve --no-worker`
    worker_drain.py drain --db DB_FILE [--repeat K] [--profile FILE] [--callgrind FILE]

``ingest`` imports bench/reference-story.json into a fresh SQLite file and posts the peers' slash
command N times to a `storyline serve --no-worker`, so the file holds N accepted runs and their
first jobs. ``drain`` copies that file, starts the fake upstream (../shared/bench-peers, on a port
of its own) and `storyline worker` on the copy, and waits until every run has posted both its
Slack messages. It prints the worker's CPU seconds (user + system, from /proc) and wall seconds
from its first claimed job to the last post, and so CPU ms per run and runs/s, and the jobs per
run (5 for the reference story: more means pure actions ran outside the writer).

Why: the full bench (run.sh) mixes the acks and the worker in one process and its wall-clock
figures move with whatever else runs on the machine. CPU per run of one process draining the
same accepted runs moves less (still +-15% between back-to-back drains at load 8 on 2 cores),
and the same file can be drained by two commits back to back. ``--callgrind`` runs the worker
under valgrind (instruction counts, whatever the load; 300 runs took 11 minutes) and
``--profile`` under py-spy, sampling only the thread that holds the GIL (in py-spy's default
mode, threads waiting on a queue or on fsync count as busy: the thread pools' idle
``work_queue.get`` was a third of the samples).

Run it with a worktree's venv python; the storyline it drives is that venv's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PEERS = Path(os.environ.get("BENCH_PEERS", HERE.parent.parent / "shared" / "bench-peers"))
FORM = (b"token=bench-token-0000&team_id=T0BENCH&channel_id=C0BENCH&user_name=alice"
        b"&command=%2Fanalyzedomain&text=evil-example.com+and+login.bad-site.net")
PENDING = "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
STARTED = "SELECT count(*) FROM jobs WHERE status != 'queued'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return bytes(r.read())
    except OSError:
        return None


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        return int(r.status)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _env(fake_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["STORYLINE_EGRESS_OVERRIDES"] = (
        f"www.virustotal.com=http://127.0.0.1:{fake_port},slack.com=http://127.0.0.1:{fake_port}"
    )
    env.setdefault("STORYLINE_SCHEDULER", "0")
    return env


def ingest(runs: int, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    url = f"sqlite:///{out}"
    subprocess.run([BIN / "storyline", "story", "import", "--db", url, HERE / "reference-story.json"],
                   check=True, stdout=subprocess.DEVNULL)
    port = _free_port()
    serve = subprocess.Popen([BIN / "storyline", "serve", "--no-worker", "--port", str(port), "--db", url],
                             env=_env(1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hook = f"http://127.0.0.1:{port}/webhook/analyzedomain/bench"
    try:
        _wait(lambda: _get(f"http://127.0.0.1:{port}/") is not None, 60, "serve")
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda _: _post(hook, FORM), range(runs)))
        if set(codes) != {200}:
            raise SystemExit(f"ingest: answers {sorted(set(codes))}")
    finally:
        _stop(serve)
    with sqlite3.connect(out) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"ingested {runs} runs into {out}")


def drain(source: Path, profile: str | None, callgrind: str | None, concurrency: int | None) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="worker-drain-"))
    try:
        db_file = work / "storyline.db"
        shutil.copy(source, db_file)
        for suffix in ("-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copy(f"{source}{suffix}", f"{db_file}{suffix}")
        for extra in source.parent.glob(source.name + ".*"):  # the key file beside the database
            shutil.copy(extra, work / extra.name)
        with sqlite3.connect(db_file) as db:
            runs = db.execute("SELECT count(*) FROM story_runs").fetchone()[0]
            pending = db.execute(PENDING).fetchone()[0]
        fake_port = _free_port()
        fake = subprocess.Popen(["node", PEERS / "fake-upstream.js"], env={**os.environ, "FAKE_PORT": str(fake_port)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker = None
        try:
            _wait(lambda: _get(f"http://127.0.0.1:{fake_port}/stats") is not None, 20, "fake upstream")
            cmd: list[str | Path] = [BIN / "storyline", "worker", "--db", f"sqlite:///{db_file}"]
            if concurrency:
                cmd += ["--concurrency", str(concurrency)]
            if callgrind:
                cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={callgrind}", "--trace-children=no",
                       sys.executable, "-m", "storyline.cli", *cmd[1:]]
            elif profile:
                cmd = [BIN / "py-spy", "record", "--rate", "200", "--gil", "--format", "raw", "-o", profile, "--", *cmd]
            worker = subprocess.Popen(cmd, env=_env(fake_port), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            pid = worker.pid
            if profile:  # py-spy's child
                _wait(lambda: bool(_children(worker.pid)), 20, "py-spy's child")
                pid = _children(worker.pid)[0]
            reader = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
            _wait(lambda: reader.execute(STARTED).fetchone()[0] > 1, 600, "the first claim")
            cpu0, t0 = _cpu_seconds(pid), time.monotonic()

            def slack_posts() -> int:
                stats = _get(f"http://127.0.0.1:{fake_port}/stats")
                return int(json.loads(stats)["slack"]) if stats else 0

            deadline = time.monotonic() + 3600
            while slack_posts() < 2 * runs and time.monotonic() < deadline:
                time.sleep(0.1)
            cpu1, t1 = _cpu_seconds(pid), time.monotonic()
            left = reader.execute(PENDING).fetchone()[0]
            # More jobs per run than the story's I/O actions means pure actions left the writer.
            jobs = reader.execute("SELECT count(*) FROM jobs").fetchone()[0]
            reader.close()
        finally:
            if worker is not None:
                _stop(worker, signal.SIGINT if profile else signal.SIGTERM)
            _stop(fake)
        return {"runs": runs, "jobs_at_start": pending, "left_pending": left,
                "jobs_per_run": round(jobs / runs, 2), "cpu_s": round(cpu1 - cpu0, 2),
                   "wall_s": round(t1 - t0, 2), "cpu_ms_per_run": round(1000 * (cpu1 - cpu0) / runs, 3),
                   "runs_per_s": round(runs / (t1 - t0), 1), "loadavg": os.getloadavg()[0]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("drain")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--concurrency", type=int)
    p.add_argument("--profile")
    p.add_argument("--callgrind")
    args = parser.parse_args()
    if args.command == "ingest":
        ingest(args.runs, args.out.resolve())
        return
    for _ in range(args.repeat):
        print(json.dumps(drain(args.db.resolve(), args.profile, args.callgrind, args.concurrency)), flush=True)


if __name__ == "__main__":
    main()

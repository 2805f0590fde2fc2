"""The security chatbot under load: `/analyzedomain` of 2 domains through the installed pack.

    .venv/bin/python bench/chatbot.py [--commands 300] [--concurrency 16] [--database sqlite|postgresql|both]

What a security team sees in Slack when many people (or a flood of alerts piped into slash
commands) ask at once. For each database, in one run, side by side:

1. a fresh database, `storyline pack install security-chatbot` and `storyline credential set` for
   the Slack signing secret and bot token, VirusTotal and URLhaus, as the README tells a user;
2. `storyline serve` (with ``--serve-args``, e.g. "--workers 0") with `STORYLINE_EGRESS_OVERRIDES` sending
   www.virustotal.com, urlhaus-api.abuse.ch, rdap.org and hooks.slack.com to the project's fakes,
   each answering after a realistic round trip (defaults: VirusTotal 300 ms, URLhaus 200 ms,
   RDAP 400 ms, Slack 100 ms);
3. ``--commands`` signed slash commands, ``--concurrency`` in flight at a time, each naming two
   domains of its own (`/analyzedomain evil-bench-N.com new-bench-N.org`); with ``--wait-reply``
   each of those users waits for its reply before its next command (``--concurrency 1 --wait-reply``:
   the reply time of a command on an idle server);
4. then waits (bounded) for every reply at the command's ``response_url`` and checks it lists both
   domains.

Prints, per database: acks (p50 / p99 / max, and how many missed Slack's 3 s), completed
commands/s (commands / time from the first command to the last reply), reply time from command to
verdict (p50 / p99 / slowest), replies missing or wrong, the CPU that serve and its worker processes
used per completed command (from the first command to the last reply) and their peak RSS (the sum of
each process's own peak). The fakes run in this process; storyline runs in its own. Results are
written to bench/results/chatbot-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.proctree import sample as tree_sample  # noqa: E402
from tests.fakes.enrichment import FakeEnrichment  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

from storyline.sandbox import HOSTS  # noqa: E402

STORYLINE = [sys.executable, "-m", "storyline.cli"]
SLACK_DEADLINE_S = 3.0


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def start_fakes(latency: dict[str, float]) -> tuple[list[Any], FakeSlack, dict[str, str]]:
    """One enrichment fake per service, so each answers with its own round trip."""
    slack = FakeSlack()
    slack.latency = latency["slack"]
    slack.start()
    fakes: list[Any] = [slack]
    overrides = {"slack.com": slack.url, "hooks.slack.com": slack.url}
    for service in ("virustotal", "urlhaus", "rdap"):
        intel = FakeEnrichment()
        intel.latency = latency[service]
        intel.start()
        fakes.append(intel)
        for host, target in intel.overrides().items():
            if HOSTS[host] == service or (service == "rdap" and HOSTS[host] == "iana"):
                overrides[host] = target
    return fakes, slack, overrides


def cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([*STORYLINE, *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"storyline {' '.join(args[:3])} failed:\n{result.stderr}")


def fresh_database(kind: str, workdir: Path, pg_admin_url: str) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/chatbot.db", None
    name = f"storyline_chatbot_{int(time.time())}_{os.getpid()}"
    out = subprocess.run([sys.executable, str(REPO / "bench/dbstats.py"), "pg-create", pg_admin_url, name],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip(), name


def drop_database(pg_admin_url: str, name: str) -> None:
    subprocess.run([sys.executable, str(REPO / "bench/dbstats.py"), "pg-drop", pg_admin_url, name], check=False)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"storyline serve exited with {proc.returncode}; see its log")
            try:
                if (await client.get(f"{base}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"storyline serve not ready on {base} after {timeout:.0f}s")


async def drive(base: str, slack: FakeSlack, commands: int, concurrency: int, wait_reply: bool) -> dict[str, Any]:
    """Send the commands, ``concurrency`` at a time (each slot waits for the ack, or with ``wait_reply``
    for the reply too); return send times and ack latencies."""
    sent: dict[str, float] = {}
    acks: list[float] = []
    bad_acks: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(commands):
        queue.put_nowait(n)

    async def user(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            path = f"/commands/TBENCH/{n}/bench"
            form = {"command": "/analyzedomain", "text": f"evil-bench-{n}.com new-bench-{n}.org",
                    "user_id": f"U{n:06d}", "user_name": f"analyst{n}", "channel_id": "CBENCH",
                    "team_id": "TBENCH", "response_url": f"https://hooks.slack.com{path}"}
            body = urlencode(form).encode()
            headers = {"content-type": "application/x-www-form-urlencoded", **slack.signed(body)}
            started = time.monotonic()
            sent[path] = started
            try:
                response = await client.post(f"{base}/webhook/security-chatbot-slack", content=body,
                                             headers=headers, timeout=30)
                if response.status_code != 200:
                    bad_acks.append(f"{response.status_code} {response.text[:100]}")
            except httpx.HTTPError as exc:
                bad_acks.append(repr(exc))
            acks.append(time.monotonic() - started)
            if wait_reply:
                await collect_replies(slack, {path: started}, timeout=60)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        await asyncio.gather(*(user(client) for _ in range(concurrency)))
    return {"sent": sent, "acks": acks, "bad_acks": bad_acks}


async def collect_replies(slack: FakeSlack, sent: dict[str, float], timeout: float) -> dict[str, Any]:
    """Wait for a reply at every command's response_url; the verdict reply names both of its domains."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len({c.path for c in slack.calls if c.path in sent}) >= len(sent):
            break
        await asyncio.sleep(0.05)
    verdict: dict[str, Any] = {}
    answered: set[str] = set()
    for call in list(slack.calls):
        if call.path not in sent:
            continue
        answered.add(call.path)
        n = call.path.split("/")[3]
        if call.path not in verdict and f"evil-bench-{n}.com" in call.text and f"new-bench-{n}.org" in call.text:
            verdict[call.path] = call
    times = [call.received_at - sent[path] for path, call in verdict.items()]
    wrong = len(answered - set(verdict))
    last = max((call.received_at for call in verdict.values()), default=None)
    return {"reply_times": times, "missing": len(sent) - len(answered), "wrong": wrong, "last_reply_at": last}


def measure(kind: str, args: argparse.Namespace, overrides: dict[str, str], fakes: list[Any],
            slack: FakeSlack) -> dict[str, Any]:
    for fake in fakes:
        fake.reset()
    workdir = Path(tempfile.mkdtemp(prefix=f"storyline-chatbot-{kind}-"))
    url, pg_name = fresh_database(kind, workdir, args.pg_url)
    env = {**os.environ, "STORYLINE_DATABASE_URL": url, "STORYLINE_PUBLIC_URL": f"http://127.0.0.1:{args.port}",
           "STORYLINE_EGRESS_OVERRIDES": ",".join(f"{h}={t}" for h, t in overrides.items()),
           "STORYLINE_SECRET_KEY": os.environ.get("STORYLINE_SECRET_KEY") or secrets.token_urlsafe(32)}
    log = workdir / "serve.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        cli(env, "db", "upgrade")
        cli(env, "pack", "install", "security-chatbot")
        for name, value in (("slack_signing_secret", slack.signing_secret), ("slack_bot_token", slack.token),
                            ("virustotal", "bench-vt-key"), ("urlhaus", "bench-urlhaus-key")):
            cli(env, "credential", "set", name, "--value", value)
        with log.open("wb") as out:
            proc = subprocess.Popen([*STORYLINE, "serve", "--port", str(args.port), *args.serve_args.split()],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{args.port}"
        asyncio.run(wait_ready(base, proc))
        print(f"[{kind}] serving on {base}; sending {args.commands} commands, {args.concurrency} at a time",
              file=sys.stderr)
        started, before = time.monotonic(), tree_sample([proc.pid])
        driven = asyncio.run(drive(base, slack, args.commands, args.concurrency, args.wait_reply))
        acks_done = time.monotonic()
        replies = asyncio.run(collect_replies(slack, driven["sent"], args.reply_timeout))
        after = tree_sample([proc.pid])
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if pg_name:
            drop_database(args.pg_url, pg_name)
    completed = len(replies["reply_times"])
    span = (replies["last_reply_at"] or acks_done) - started
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    return {
        "database": kind,
        "commands": args.commands,
        "concurrency": args.concurrency,
        "ack_ms": {"p50": ms(percentile(driven["acks"], 50)), "p99": ms(percentile(driven["acks"], 99)),
                   "max": ms(max(driven["acks"], default=None))},
        "acks_over_3s": sum(1 for a in driven["acks"] if a > SLACK_DEADLINE_S),
        "bad_acks": driven["bad_acks"][:5],
        "bad_ack_count": len(driven["bad_acks"]),
        "completed": completed,
        "completed_commands_per_s": round(completed / span, 1) if span > 0 else None,
        "reply_ms": {"p50": ms(percentile(replies["reply_times"], 50)),
                     "p99": ms(percentile(replies["reply_times"], 99)),
                     "slowest": ms(max(replies["reply_times"], default=None))},
        "missing_replies": replies["missing"],
        "wrong_replies": replies["wrong"],
        "cpu_ms_per_command": round(1000 * (after["cpu_s"] - before["cpu_s"]) / completed, 1) if completed else None,
        "processes": after["processes"],
        "peak_rss_mb": after["hwm_mb"],
        "serve_log": str(log),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--wait-reply", action="store_true",
                        help="each of the --concurrency users waits for its reply before the next command")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--port", type=int, default=8110)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--serve-args", default="", help='arguments added to `storyline serve` ("--workers 0")')
    parser.add_argument("--reply-timeout", type=float, default=300, help="seconds to wait for the last reply")
    for service, default in (("virustotal", 0.3), ("urlhaus", 0.2), ("rdap", 0.4), ("slack", 0.1)):
        parser.add_argument(f"--{service}-latency", type=float, default=default, help=f"seconds (default {default})")
    args = parser.parse_args(argv)
    latency = {s: getattr(args, f"{s}_latency") for s in ("virustotal", "urlhaus", "rdap", "slack")}
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]

    fakes, slack, overrides = start_fakes(latency)
    try:
        results = [measure(kind, args, overrides, fakes, slack) for kind in kinds]
    finally:
        for fake in fakes:
            fake.stop()

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    report = {"commit": commit, "serve_args": args.serve_args, "latency_s": latency, "loadavg": Path("/proc/loadavg").read_text().split()[:3],
              "results": results}
    out_dir = REPO / "bench/results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"chatbot-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"\n/analyzedomain of 2 domains through the security-chatbot pack ({args.commands} commands, "
          f"{args.concurrency} in flight{', each waiting for its reply' if args.wait_reply else ''}; fake latency VT {latency['virustotal']}s, URLhaus {latency['urlhaus']}s, "
          f"RDAP {latency['rdap']}s, Slack {latency['slack']}s)")
    print(f"{'database':<11}{'ack p50':>9}{'ack p99':>9}{'>3s':>5}{'cmds/s':>8}{'reply p50':>11}{'reply p99':>11}"
          f"{'slowest':>9}{'missing':>9}{'wrong':>7}{'CPU/cmd':>9}{'RSS MB':>8}")
    for r in results:
        print(f"{r['database']:<11}{r['ack_ms']['p50']:>9}{r['ack_ms']['p99']:>9}{r['acks_over_3s']:>5}"
              f"{r['completed_commands_per_s']!s:>8}{r['reply_ms']['p50']!s:>11}{r['reply_ms']['p99']!s:>11}"
              f"{r['reply_ms']['slowest']!s:>9}{r['missing_replies']:>9}{r['wrong_replies']:>7}"
              f"{r['cpu_ms_per_command']!s:>9}{r['peak_rss_mb']!s:>8}")
    print(f"(serve {args.serve_args or 'with its defaults'}: {results[0]['processes']} processes)")
    print(f"(times in ms; written to {out.relative_to(REPO)})")
    failed = any(r["missing_replies"] or r["wrong_replies"] or r["bad_ack_count"] for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

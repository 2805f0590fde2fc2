"""The web console on a big database: every page's p50/p95 and the largest story's graph in Chromium.

    .venv/bin/python bench/console.py                                  # 1,000,000 events on SQLite (a temp file)
    .venv/bin/python bench/console.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/console.py --events 20000 --requests 10     # a quick look
    .venv/bin/python bench/console.py --database-url sqlite:////tmp/c.db --keep   # seed once, keep it ...
    .venv/bin/python bench/console.py --database-url sqlite:////tmp/c.db --reuse  # ... and measure it again

1. Seeds an empty database (a SQLite file, or a PostgreSQL schema of its own, dropped afterwards
   unless ``--keep``): the demo's stories (``serve --demo``'s and the security-chatbot pack's) and
   every export of ``../shared/tines-stories`` that imports, users, API tokens, credentials,
   resources and audit entries through ``accounts/`` and ``operations/``; then ``--events`` events
   in ``--events / 10`` story runs, bulk-written into the store's tables (``executemany`` on SQLite,
   ``COPY`` on PostgreSQL). Each run walks its story's graph from its entry action, so events
   belong to real actions and point at their parent; payloads are 0.5 to 2 KB of what Slack,
   VirusTotal and the like answer; runs start over 30 days, a fifth of them in the last 24 h;
   4% of runs end in a failed job with its retries logged; one run has 600 events.
2. Starts ``storyline serve`` on it (web, worker and housekeeping; the scheduler off, as the corpus'
   schedules would call the internet), signs in as an admin through ``/login`` and times every
   console page and the API's lists: ``--warmup`` requests, then ``--requests`` timed ones each,
   one at a time; p50 and p95 per page against the target p95 < 300 ms.
3. Opens the largest story's graph in Chromium (Playwright, ``/usr/bin/chromium``): milliseconds from
   navigation start to the second frame painted after load, median of ``--graph-samples``,
   against the target of 1 s.

Results are printed and written to ``bench/results/console-<database>-<events>.json``.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import sqlalchemy as sa

from storyline import packs
from storyline.accounts import tokens, users
from storyline.accounts.passwords import Hashed, hash_password
from storyline.credentials import model
from storyline.credentials.cipher import Cipher
from storyline.operations import credentials, resources
from storyline.operations.paging import encode_cursor
from storyline.store import tables as t
from storyline.store.db import make_engine, upgrade
from storyline.store.resources import load_resources
from storyline.store.stories import StoryConflictError, StoryExistsError, save_story
from storyline.stories import install_demo
from storyline.tines.importer import StoryFormatError, load_file

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "tines-stories"
RESULTS = REPO / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
STORYLINE = [sys.executable, "-m", "storyline.cli"]

TARGET_MS = 300.0
GRAPH_TARGET_MS = 1000.0
DAY = 86_400.0
SPAN_DAYS = 30
LAST_DAY_SHARE = 0.2
KEEP_SECONDS = 45 * int(DAY)
"""What every seeded story keeps (events span 30 days: nothing expires while the bench runs)."""
FAILED_SHARE = 0.04
LOGGED_SHARE = 0.1
BIG_RUN_EVENTS = 600
AUDIT_ENTRIES = 5000
BATCH_RUNS = 2000
ADMIN = "bench-admin@example.com"
MARKER = "console_bench"
"""The resource that says what was seeded (ids and guids the pages are measured on)."""
BENCH_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"storyline console bench").digest()).decode().rstrip("=")
"""The master key of a bench database (credentials hold nothing real), so a kept one can be measured again."""
WORDS = ("alpha", "login", "secure", "update", "mail", "cdn", "portal", "account", "verify", "support",
         "billing", "docs", "static", "api", "vpn", "sso", "files", "share", "pay", "id")
TLDS = ("com", "net", "org", "io", "co", "info", "biz", "xyz")
RARE = "needle-in-a-haystack"
"""In one old run only: a text search for it reads its whole bounded window and says "search older"."""
COMMON = "evil"
"""In about 1 run in 20 (its domains): a text search for it fills a page quickly."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- the database


@dataclasses.dataclass
class Target:
    url: str
    """What storyline is given (PostgreSQL: with the schema on its search path)."""
    name: str
    """sqlite | postgresql"""
    drop: Callable[[], None]


def open_target(url: str | None, *, keep: bool, reuse: bool) -> Target:
    """The database to seed: a new SQLite file, or a new PostgreSQL schema; ``reuse``: one seeded before."""
    if url is None or url.startswith("sqlite"):
        home = None
        if url is None:
            if reuse:
                raise SystemExit("--reuse needs the --database-url of the kept database")
            home = Path(tempfile.mkdtemp(prefix="console-bench-"))
            url = f"sqlite:///{home}/console.db"
        path = Path(sa.make_url(url).database or "")
        companions = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.key")]
        if not reuse and any(companion.exists() for companion in companions):
            raise SystemExit(f"{path} (or its -wal, -shm or .key) exists: give a new file to seed, or --reuse "
                             "to measure it as it is")

        def drop_file() -> None:
            if keep or reuse:
                log(f"kept {path}: measure it again with --reuse --database-url {url}")
                return
            for companion in companions:  # none was there before this run
                companion.unlink(missing_ok=True)
            if home is not None:
                shutil.rmtree(home, ignore_errors=True)

        return Target(url, "sqlite", drop_file)
    if not url.startswith(("postgresql://", "postgres://")):
        raise SystemExit("--database-url: sqlite:///FILE or postgresql://...")
    if reuse:
        return Target(url, "postgresql", lambda: log(f"kept the database of {url}"))
    schema = f"console_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.replace("postgres://", "postgresql://").replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"

    def drop_schema() -> None:
        if keep:
            log(f"kept schema {schema}: measure it again with --reuse --database-url '{scoped}'")
        else:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")  # the one this run created
        admin.dispose()

    return Target(scoped, "postgresql", drop_schema)


# ---------------------------------------------------------------------------------------------- seeding


@dataclasses.dataclass
class Step:
    action_id: int
    key: str
    type: str
    parent: int
    """Index of the step whose event this one was emitted on (-1: the run's first event)."""


def walks(conn: sa.Connection) -> dict[int, list[Step]]:
    """Per story, the actions a run goes through: breadth first from its entry (a webhook with no sources)."""
    a, lk = t.actions.c, t.links.c
    actions = {row.id: row for row in conn.execute(sa.select(a.id, a.story_id, a.key, a.type, a.position))}
    receivers: dict[int, list[int]] = {}
    sources: set[int] = set()
    for source, receiver in conn.execute(sa.select(lk.source_id, lk.receiver_id).order_by(lk.id)):
        receivers.setdefault(source, []).append(receiver)
        sources.add(receiver)
    found: dict[int, list[Step]] = {}
    for story_id in sorted({row.story_id for row in actions.values()}):
        own = sorted((row for row in actions.values() if row.story_id == story_id), key=lambda row: row.position)
        roots = [row for row in own if row.id not in sources] or own
        entry = next((row for row in roots if row.type == "Agents::WebhookAgent"), roots[0])
        steps, seen, index = [Step(entry.id, entry.key, entry.type, -1)], {entry.id}, 0
        while index < len(steps):
            for receiver in receivers.get(steps[index].action_id, []):
                if receiver not in seen:
                    seen.add(receiver)
                    row = actions[receiver]
                    steps.append(Step(row.id, row.key, row.type, index))
            index += 1
        found[story_id] = steps
    return found


class Payloads:
    """What actions emit, 0.5 to 2 KB each: a Slack slash command, VirusTotal's answer, a transformation."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.whois = [" ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(rng.randrange(40, 150)))
                      for _ in range(200)]

    def domain(self, run: int) -> str:
        word = COMMON if run % 20 == 7 else self.rng.choice(WORDS)
        return f"{word}-{run % 9973}.{self.rng.choice(TLDS)}"

    def output(self, kind: str, run: int, domains: list[str]) -> Any:
        rng = self.rng
        if kind == "Agents::WebhookAgent":
            return {"body": {"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0001", "team_domain": "example",
                             "channel_id": f"C{rng.randrange(10**8):08d}", "channel_name": "security-ops",
                             "user_id": f"U{rng.randrange(10**8):08d}", "user_name": rng.choice(WORDS),
                             "command": "/analyzedomain", "text": " ".join(domains),
                             "response_url": f"https://hooks.slack.com/commands/T0001/{run}/{uuid.uuid4().hex}",
                             "trigger_id": f"{run}.{rng.randrange(10**12)}.{uuid.uuid4().hex}"},
                    "headers": {"content-type": "application/x-www-form-urlencoded", "user-agent":
                                "Slackbot 1.0 (+https://api.slack.com/robots)", "x-slack-request-timestamp":
                                str(rng.randrange(10**9, 2 * 10**9))}}
        if kind == "Agents::HTTPRequestAgent":
            domain = rng.choice(domains)
            return {"status": 200, "headers": {"content-type": "application/json", "server": "Google Frontend",
                                                "x-request-id": uuid.uuid4().hex, "date": "Mon, 01 Dec 2026"},
                    "body": {"data": {"id": domain, "type": "domain", "attributes": {
                        "last_analysis_stats": {"harmless": rng.randrange(80), "malicious": rng.randrange(12),
                                                "suspicious": rng.randrange(3), "undetected": rng.randrange(20)},
                        "reputation": rng.randrange(-50, 50), "categories": {"Forcepoint ThreatSeeker": "phishing"},
                        "last_dns_records": [{"type": "A", "ttl": 300, "value": f"203.0.113.{rng.randrange(256)}"}
                                             for _ in range(rng.randrange(1, 6))],
                        "whois": rng.choice(self.whois)[:rng.randrange(200, 1200)]}}}}
        if kind == "Agents::EventTransformationAgent":
            return {"domains": domains, "message": f"{len(domains)} domain(s) to look up: {', '.join(domains)}",
                    "note": rng.choice(self.whois)[:rng.randrange(400, 1500)]}
        return {"matched": True, "domains": domains, "rule": {"type": "regex", "path": "body.text", "value": ".+"},
                "context": rng.choice(self.whois)[:rng.randrange(400, 1500)]}


@dataclasses.dataclass
class Seeded:
    events: int
    runs: int
    seconds: float
    largest_story_id: int
    largest_story: str
    largest_actions: int
    action_id: int
    chatbot_story_id: int
    big_run: str
    big_run_events: int
    old_event_id: int
    first_event_id: int
    last_event_id: int


def bulk(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """``rows`` (tuples in the table's column order) into ``table``: COPY on PostgreSQL, else executemany."""
    if not rows:
        return
    columns = [column.name for column in table.columns]
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        cursor = raw.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)
        finally:
            cursor.close()


def import_stories(conn: sa.Connection, now: float) -> tuple[int, list[str]]:
    """The demo's stories, the chatbot pack, then every corpus export that imports; (imported, skipped)."""
    imported = len(install_demo(conn)) + len(packs.install(conn, "security-chatbot", now=now).stories)
    skipped = []
    for path in sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []:
        try:
            story, _ = load_file(path)
            # Schema 1 exports keep events per action: as long as the story, so nothing expires mid-bench.
            story = dataclasses.replace(story, actions=[
                dataclasses.replace(action, keep_events_for=KEEP_SECONDS if action.keep_events_for else None)
                for action in story.actions])
            with conn.begin_nested():
                save_story(conn, story, now=now)
            imported += 1
        except (StoryFormatError, StoryExistsError, StoryConflictError, sa.exc.IntegrityError, ValueError) as exc:
            skipped.append(f"{path.name} ({str(exc).splitlines()[0][:100]})")
    conn.execute(t.stories.update().values(keep_events_for=KEEP_SECONDS))
    return imported, skipped


def seed_accounts(conn: sa.Connection, password: str, now: float) -> None:
    """An admin to sign in as, and what the admin pages list: users, tokens, credentials, resources, audit."""
    actor = "cli:bench"
    users.add_user(conn, ADMIN, "admin", password, actor=actor, now=now)
    other = Hashed(hash_password(uuid.uuid4().hex))
    for n in range(40):
        users.add_user(conn, f"analyst{n}@example.com", ("viewer", "editor", "admin")[n % 3], other, actor=actor,
                       now=now)
    for n in range(15):
        tokens.create_token(conn, f"automation-{n}", ("viewer", "editor")[n % 2], actor=actor, now=now)
    cipher = Cipher.for_database("")
    for n in range(30):
        credentials.save(conn, actor, cipher, model.text(f"service_{n}_api_key", uuid.uuid4().hex,
                                                         allowed_hosts=[f"api{n}.example.com"]), now)
    for n in range(40):
        resources.save(conn, actor, f"list_{n}", {"allowed": [f"host{m}.example.com" for m in range(n * 3)],
                                                  "threshold": n}, now)
    rng = random.Random(1)
    actions = ("story.import", "action.update", "credential.set", "user.add", "event.reemit", "resource.set")
    first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.audit_log.c.id), 0))).scalar_one() + 1
    times = sorted(now - rng.random() * SPAN_DAYS * DAY for _ in range(AUDIT_ENTRIES))
    bulk(conn, t.audit_log, [
        (first + n, at, f"user:analyst{n % 40}@example.com", actions[n % 6], f"target {n}", f"a change, number {n}")
        for n, at in enumerate(times)])


def run_lengths(rng: random.Random, events: int, runs: int) -> tuple[list[int], int]:
    """Events per run adding up to ``events`` (1 to twice the mean), and the index of the one big run
    (:data:`BIG_RUN_EVENTS`, or a quarter of a small seed), in the last day."""
    mean = events / runs
    lengths = [max(1, round(rng.uniform(1, 2 * mean - 1))) for _ in range(runs)]
    big = runs - max(1, runs // 50)
    lengths[big] = max(1, min(BIG_RUN_EVENTS, events // 4))
    diff = events - sum(lengths)
    while diff:
        index = rng.randrange(runs)
        step = 1 if diff > 0 else -1
        if lengths[index] + step >= 1 and index != big:
            lengths[index] += step
            diff -= step
    return lengths, big


def seed(url: str, events: int, runs: int, password: str) -> Seeded:
    started = time.monotonic()
    engine = make_engine(url, synchronous="OFF")
    upgrade(engine)
    now = time.time()
    with engine.begin() as conn:
        imported, skipped = import_stories(conn, now)
        seed_accounts(conn, password, now)
        plans = walks(conn)
    log(f"{imported} stories imported, accounts and admin data in {time.monotonic() - started:.1f}s"
        + "".join(f"\n  skipped {why}" for why in skipped))
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(t.stories.c.id, t.stories.c.name)).all())
        base_run, base_event, base_job, base_log = (
            conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
            for table in (t.story_runs, t.events, t.jobs, t.logs))
        sizes = dict(conn.execute(sa.select(t.actions.c.story_id, sa.func.count()).group_by(t.actions.c.story_id)).all())
    largest = max(plans, key=lambda story_id: (sizes[story_id], -story_id))  # the most actions, as the browser test
    chatbot = next((i for i, name in names.items() if name == "Slack Chatbot"),
                   next(i for i, name in names.items() if name == "Slack security chatbot"))
    others = [story_id for story_id in plans if story_id not in (largest, chatbot)]
    # A few stories do most of the work, as in a real tenant: the chatbot a third, the largest a sixth.
    weights = [1 / (rank + 1) for rank in range(len(others))]
    rng = random.Random(42)
    lengths, big = run_lengths(rng, events, runs)
    last_day = int(runs * LAST_DAY_SHARE)
    starts = sorted([now - DAY - rng.random() * (SPAN_DAYS - 1) * DAY for _ in range(runs - last_day)]
                    + [now - 120 - rng.random() * (DAY - 120) for _ in range(last_day)])
    payloads = Payloads(rng)
    event_id, job_id, log_id = base_event, base_job, base_log
    big_run, old_event, old_run_index = "", 0, runs // 3
    written = 0
    for batch in range(0, runs, BATCH_RUNS):
        run_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        job_rows: list[tuple[Any, ...]] = []
        log_rows: list[tuple[Any, ...]] = []
        for index in range(batch, min(runs, batch + BATCH_RUNS)):
            run_id, length, start = base_run + index + 1, lengths[index], starts[index]
            pick = rng.random()
            story_id = (chatbot if pick < 0.34 and index != big else largest if pick < 0.5 or index == big
                        else rng.choices(others, weights)[0])
            plan, guid = plans[story_id], str(uuid.UUID(int=rng.getrandbits(128), version=4))
            domains = [payloads.domain(run_id) for _ in range(rng.choice((1, 1, 2, 3)))]
            if index == old_run_index:
                domains[0] = f"{RARE}.com"
                old_event = event_id + 1
            if index == big:
                big_run = guid
            ids: list[int] = []
            size = 0
            for n in range(length):
                # Beyond the walk, the second step explodes: more events on the run's first one.
                step = plan[n] if n < len(plan) else plan[min(1, len(plan) - 1)]
                parent = ids[step.parent] if n < len(plan) and step.parent >= 0 else (ids[0] if n else None)
                at = start + n * 0.05 + rng.random() * 0.04
                own = orjson.dumps({step.key: payloads.output(step.type, run_id, domains)}).decode()
                size += len(own)
                event_id += 1
                ids.append(event_id)
                job = None
                if parent is not None:
                    job_id += 1
                    job = job_id
                    job_rows.append((job, step.action_id, parent, guid, "done", at - 0.02, 1, None, None, None, None,
                                     at - 0.02, at))
                event_rows.append((event_id, story_id, step.action_id, guid, job, 0, own, parent, at,
                                   at + KEEP_SECONDS))
            end = start + length * 0.05
            if rng.random() < FAILED_SHARE:
                step = plan[min(length, len(plan) - 1)]
                error = (f"HTTP 503 from https://www.virustotal.com/api/v3/domains/{domains[0]}: "
                         "Service Unavailable (the upstream is overloaded; try again later)")
                job_id += 1
                job_rows.append((job_id, step.action_id, ids[-1], guid, "failed", end, 3, None, None, None, error,
                                 end, end + 7))
                for attempt, level, message in ((1, "warning", f"attempt 1 failed, retrying in 2.0s: {error}"),
                                                (2, "warning", f"attempt 2 failed, retrying in 4.0s: {error}"),
                                                (3, "error", f"failed after 3 attempt(s): {error}")):
                    log_id += 1
                    log_rows.append((log_id, step.action_id, job_id, guid, level, message, end + attempt * 2))
            elif rng.random() < LOGGED_SHARE:
                log_id += 1
                log_rows.append((log_id, plan[-1].action_id, job_id, guid, "info",
                                 f"posted the verdict on {', '.join(domains)} to Slack", end))
            run_rows.append((run_id, guid, story_id, start, start + KEEP_SECONDS, None, size))
        with engine.begin() as conn:
            for table, rows in ((t.story_runs, run_rows), (t.events, event_rows), (t.jobs, job_rows),
                                (t.logs, log_rows)):
                bulk(conn, table, rows)
        written += len(event_rows)
        elapsed = time.monotonic() - started
        log(f"  {written:>9,} / {events:,} events, {batch + len(run_rows):,} runs, {elapsed:.0f}s")
    finish(engine)
    marker = Seeded(written, runs, round(time.monotonic() - started, 1), largest, names[largest], sizes[largest],
                    plans[largest][min(1, len(plans[largest]) - 1)].action_id, chatbot, big_run, lengths[big], old_event,
                    base_event + 1, event_id)
    with engine.begin() as conn:
        resources.save(conn, "cli:bench", MARKER, dataclasses.asdict(marker), time.time())
    engine.dispose()
    return marker


def finish(engine: sa.Engine) -> None:
    """PostgreSQL: sequences past the ids written, and statistics (autovacuum would gather them soon after);
    SQLite: the WAL checkpointed into the file. SQLite gets no ANALYZE: storyline never runs one."""
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (t.story_runs, t.events, t.jobs, t.logs, t.audit_log):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                     f"(SELECT max(id) FROM {table.name}))")
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        raw = engine.raw_connection()  # outside a transaction (the engine's connections begin one)
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()  # type: ignore[union-attr]
        finally:
            raw.close()
    log(f"  finished ({'VACUUM ANALYZE' if engine.dialect.name == 'postgresql' else 'checkpoint'}) "
        f"in {time.monotonic() - started:.0f}s")


def reuse(url: str, password: str) -> Seeded:
    """The marker of a database seeded before, and the admin's password set anew (it was never kept)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        value = load_resources(conn).get(MARKER)
        if value is None:
            raise SystemExit(f"{url} was not seeded by bench/console.py (no resource {MARKER!r})")
        users.set_password(conn, ADMIN, password, actor="cli:bench")
    engine.dispose()
    return Seeded(**value)


# ---------------------------------------------------------------------------------------------- serving


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(url: str, log_path: Path) -> Iterator[str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("STORYLINE_")}
    env.update(STORYLINE_DATABASE_URL=url, STORYLINE_SECRET_KEY=os.environ["STORYLINE_SECRET_KEY"],
               STORYLINE_SCHEDULER="0")
    with log_path.open("wb") as out:
        process = subprocess.Popen([*STORYLINE, "serve", "--port", str(port), "--quiet"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"storyline serve exited:\n{log_path.read_text(errors='replace')}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"storyline serve not healthy after 120 s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def sign_in(base: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit(f"no login form at {base}/login: {form.status_code}")
    answer = client.post("/login", data={"email": ADMIN, "password": password, "csrf_token": token.group(1),
                                          "next": "/stories"})
    if answer.status_code != 303 or "storyline_session" not in client.cookies:
        raise SystemExit(f"signing in as {ADMIN} failed: {answer.status_code} {answer.text[:300]}")
    return client


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M")


def pages(seeded: Seeded) -> list[tuple[str, str]]:
    """(what, path) for every console page and the API's lists, on the seeded ids."""
    now = time.time()
    middle = encode_cursor((seeded.first_event_id + seeded.last_event_id) // 2)
    story, action = seeded.largest_story_id, seeded.action_id
    window = urlencode({"since": utc(now - 10 * DAY), "until": utc(now - 10 * DAY + 3600)})
    return [
        ("/stories", "/stories"),
        ("/stories?q=", "/stories?q=slack"),
        ("/stories/{id} (largest)", f"/stories/{story}"),
        ("/stories/{id}?action= (panel)", f"/stories/{story}?action={action}"),
        ("/stories/{id}/live (numbers, as JSON)", f"/stories/{story}/live"),
        ("/runs", "/runs"),
        ("/runs?story=", f"/runs?story={seeded.chatbot_story_id}"),
        ("/runs?cursor= (a later page)", f"/runs?cursor={encode_cursor(seeded.runs // 2)}"),
        (f"/runs/{{guid}} ({seeded.big_run_events} events)", f"/runs/{seeded.big_run}"),
        ("/events", "/events"),
        ("/events?story=", f"/events?story={story}"),
        ("/events?story=&action=", f"/events?story={story}&action={action}"),
        ("/events?since=&until= (1 h, 10 days ago)", f"/events?{window}"),
        (f"/events?text= (common: {COMMON})", f"/events?text={COMMON}"),
        ("/events?text= (rare: reads 20,000)", f"/events?text={RARE}"),
        ("/events?cursor= (a later page)", f"/events?cursor={middle}"),
        ("/credentials", "/credentials"),
        ("/resources", "/resources"),
        ("/packs", "/packs"),
        ("/audit", "/audit"),
        ("/users", "/users"),
        ("/tokens", "/tokens"),
        ("/playground", "/playground"),
        ("GET /api/v1/events", "/api/v1/events"),
        ("GET /api/v1/events?story_id=", f"/api/v1/events?story_id={story}"),
        ("GET /api/v1/story_runs", "/api/v1/story_runs"),
        ("GET /api/v1/story_runs?story_id=", f"/api/v1/story_runs?story_id={story}"),
    ]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def measure(client: httpx.Client, seeded: Seeded, warmup: int, requests: int) -> list[dict[str, Any]]:
    found = []
    for what, path in pages(seeded):
        for _ in range(warmup):
            answer = client.get(path)
            if answer.status_code != 200:
                raise SystemExit(f"GET {path}: {answer.status_code}\n{answer.text[:1000]}")
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"GET {path}: {answer.status_code}")
        p50, p95 = statistics.median(times), percentile(times, 95)
        row = {"page": what, "path": path, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
               "max_ms": round(max(times), 1), "bytes": len(answer.content), "pass": p95 < TARGET_MS}
        found.append(row)
        log(f"  {what:<44} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {'PASS' if row['pass'] else 'FAIL'}")
    return found


def graph_time(base: str, client: httpx.Client, seeded: Seeded, samples: int) -> dict[str, Any] | None:
    """Milliseconds from navigation start to the second frame painted after load, as the browser test does."""
    executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if executable is None or samples < 1:
        log("  no Chromium (apt-get install -y chromium): the graph is not measured")
        return None
    from playwright.sync_api import sync_playwright

    url = f"{base}/stories/{seeded.largest_story_id}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": name, "value": value, "url": base} for name, value in client.cookies.items()])
            tab = context.new_page()

            def drawn() -> float:
                tab.goto(url, wait_until="load")
                return float(tab.evaluate("() => new Promise((done) => requestAnimationFrame(() => "
                                          "requestAnimationFrame(() => done(performance.now()))))"))

            drawn()  # a first visit warms the server's caches and the browser's
            times = sorted(drawn() for _ in range(samples))
            nodes = tab.locator("svg.graph a.action").count()
        finally:
            browser.close()
    median = statistics.median(times)
    log(f"  graph of {seeded.largest_story!r} ({nodes} actions drawn) in Chromium: median {median:.0f} ms "
        f"of {samples} ({times[0]:.0f}-{times[-1]:.0f} ms)  {'PASS' if median < GRAPH_TARGET_MS else 'FAIL'}")
    return {"story": seeded.largest_story, "actions": nodes, "median_ms": round(median), "samples_ms":
            [round(x) for x in times], "pass": median < GRAPH_TARGET_MS}


# ---------------------------------------------------------------------------------------------- main


def commit() -> str:
    found = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return found.stdout.strip() + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="sqlite:///FILE (new) or postgresql://... (a schema of its own "
                                               "is created there); default: a SQLite file in a temp directory")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to seed (default 1,000,000)")
    parser.add_argument("--runs", type=int, help="story runs to seed (default: events / 10)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first (default 3)")
    parser.add_argument("--graph-samples", type=int, default=5, help="graph loads in Chromium (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (to measure it again)")
    parser.add_argument("--reuse", action="store_true", help="measure a database an earlier --keep run seeded")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON result goes")
    args = parser.parse_args(argv)
    runs = args.runs or max(1, args.events // 10)
    if args.events < runs:
        parser.error("--events must be at least --runs")
    os.environ.setdefault("STORYLINE_SECRET_KEY", BENCH_KEY)
    target = open_target(args.database_url, keep=args.keep, reuse=args.reuse)
    password = uuid.uuid4().hex
    load = os.getloadavg()
    try:
        if args.reuse:
            seeded = reuse(target.url, password)
            log(f"reusing {seeded.events:,} events in {seeded.runs:,} runs (seeded in {seeded.seconds:.0f}s)")
        else:
            log(f"seeding {args.events:,} events in {runs:,} story runs on {target.name}")
            seeded = seed(target.url, args.events, runs, password)
            log(f"seeded in {seeded.seconds:.0f}s")
        args.results.mkdir(parents=True, exist_ok=True)
        server_log = args.results / f"console-{target.name}-serve.log"
        with serving(target.url, server_log) as base:
            client = sign_in(base, password)
            log(f"measuring {args.requests} requests per page after {args.warmup} (storyline serve at {base})")
            measured = measure(client, seeded, args.warmup, args.requests)
            graph = graph_time(base, client, seeded, args.graph_samples)
    finally:
        target.drop()
    report = {"database": target.name, "commit": commit(), "events": seeded.events, "runs": seeded.runs,
              "seed_seconds": seeded.seconds, "reused": args.reuse, "requests": args.requests,
              "load_before": [round(x, 2) for x in load], "load_after": [round(x, 2) for x in os.getloadavg()],
              "cpus": os.cpu_count(), "pages": measured, "graph": graph,
              "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    out = args.results / f"console-{target.name}-{seeded.events}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\n{target.name}, {seeded.events:,} events in {seeded.runs:,} runs (seeded in {seeded.seconds:.0f}s), "
          f"commit {report['commit']}, load average {load[0]:.1f} before / {report['load_after'][0]:.1f} after")
    print(f"| page | p50 ms | p95 ms | p95 < {TARGET_MS:.0f} ms |\n|---|---|---|---|")
    for row in measured:
        print(f"| {row['page']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {'PASS' if row['pass'] else 'FAIL'} |")
    if graph is not None:
        print(f"| graph of {graph['story']!r} ({graph['actions']} actions) in Chromium, median of "
              f"{len(graph['samples_ms'])} | {graph['median_ms']} | | {'PASS' if graph['pass'] else 'FAIL'} (< 1 s) |")
    missed = [row["page"] for row in measured if not row["pass"]] + ([] if graph is None or graph["pass"] else ["graph"])
    print(f"\n{len(missed)} missed the target{': ' + ', '.join(missed) if missed else ''}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

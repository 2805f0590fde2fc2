"""The durable queue: every state change of a story run is one of these transactions.

- ``ingest``: a webhook's entry event, its story run and the jobs of its receivers.
- ``claim``: lease due jobs to a worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
- ``complete``: a job's events, its receivers' jobs and its own completion. Actions
  that do no I/O downstream of it run right here, inside the same transaction
  (``Step``), so a chain of triggers and transforms costs one commit.
- ``retry`` / ``fail`` / ``reap``: errors, backoff and leases of dead workers.
- ``start_run``: a schedule tick's story run. Send to Story: a job that starts a
  sub-story run waits (queued, far ahead) until an exit action of that run emits,
  which the caller re-emits in its own run, or the run settles without one.

Each function takes the caller's connection; the caller owns the transaction.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storyline import jsondata
from storyline.actions import runnable
from storyline.actions.base import ActionError, ActionSpec, Result, SendToStory
from storyline.engine import substory
from storyline.engine.catalog import Catalog
from storyline.engine.runtime import Runtime
from storyline.store import events, run_bytes
from storyline.store import tables as t
from storyline.store.db import JsonText, is_transient, json_text
from storyline.store.hot import Hot
from storyline.store.state import SqlActionState
from storyline.templating import regexes

log = logging.getLogger(__name__)

# How many pure actions one job may run inline before handing the rest to new jobs;
# bounds the transaction and breaks loops in stories whose links form a cycle.
MAX_INLINE = 64
NOTIFY_CHANNEL = "storyline_jobs"
_NOTIFIED = "storyline.notified"
# Pure actions run inside the database writer, where every webhook's ack waits on them; a
# story's regex there gets this much per match instead of the stories' whole limit, and a
# job that runs out of it is run again outside the writer (OutsideWriter).
INLINE_REGEX_SECONDS = 0.02


class LeaseLost(Exception):
    """The job is no longer this worker's (its lease expired and someone else took it)."""


class OutsideWriter(Exception):
    """A pure action's regex ran out of the writer's budget: run the job again outside the writer."""


@dataclass(frozen=True)
class Job:
    id: int
    action_id: int
    event_id: int | None
    story_run: str
    attempts: int
    state: Any
    # The incoming event as the action sees it (store/events.py); {} for a schedule
    # tick's job, or when retention has removed the event.
    payload: Mapping[str, Any]
    # When the job became due; its downstream jobs inherit it (see Step).
    run_after: float = 0.0


@dataclass(frozen=True)
class Ingested:
    event_id: int
    story_run: str
    jobs: int


def new_run_guid() -> str:
    return str(uuid.uuid4())


def _notify(conn: Connection) -> None:
    """Wake the workers listening on PostgreSQL once the transaction commits.

    Once per transaction (or savepoint, which may be rolled back with its NOTIFY): PostgreSQL
    delivers one notification per channel per transaction anyway, and each NOTIFY is a round trip.
    """
    if conn.dialect.name != "postgresql":
        return
    scope = conn.get_nested_transaction() or conn.get_transaction()
    if scope is not None and conn.info.get(_NOTIFIED) is scope:
        return
    conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    conn.info[_NOTIFIED] = scope


def _enqueue(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        _INSERT_JOBS.many(conn, rows)
        _notify(conn)


def _job_row(action_id: int, event_id: int | None, story_run: str, now: float, **extra: Any) -> dict[str, Any]:
    row = {
        "action_id": action_id,
        "event_id": event_id,
        "story_run": story_run,
        "status": "queued",
        "run_after": now,
        "attempts": 0,
        "state": None,
        "created_at": now,
    }
    row.update(extra)
    return row


# Statements on the hot path are built once and run on the driver's cursor (store/hot.py):
# building, cache-keying and wrapping a statement per call costs about as much CPU as
# executing it on SQLite.
_INSERT_EVENT = Hot(
    t.events.insert().returning(t.events.c.id),
    ("story_id", "action_id", "story_run", "job_id", "idx", "payload", "parent_id", "created_at", "expires_at"),
)
_INSERT_RUN = Hot(
    t.story_runs.insert(), ("guid", "story_id", "created_at", "expires_at", "parent_job_id", "event_bytes")
)
_INSERT_LOG = Hot(t.logs.insert(), ("action_id", "job_id", "story_run", "level", "message", "created_at"))
_INSERT_JOBS = Hot(
    t.jobs.insert(), ("action_id", "event_id", "story_run", "status", "run_after", "attempts", "state", "created_at")
)



def _own_output(action: ActionSpec, output: Any) -> JsonText:
    """What an event row holds: the action's output under its key, as JSON (see store/events.py)."""
    try:
        return json_text({action.key: output})
    except jsondata.JsonError as exc:
        raise ActionError(f"action {action.name!r} emitted an event that cannot be stored: {exc}") from None


def _insert_event(
    conn: Connection, catalog: Catalog, action: ActionSpec, story_run: str, own: JsonText, parent_id: int | None,
    now: float, job_id: int | None, idx: int,
) -> int:
    keep = catalog.kept_for(action)
    return _INSERT_EVENT.one(
        conn,
        {
            "story_id": action.story_id,
            "action_id": action.id,
            "story_run": story_run,
            "job_id": job_id,
            "idx": idx,
            "payload": own,
            "parent_id": parent_id,
            "created_at": now,
            "expires_at": now + keep,
        },
    )


def _new_run(
    conn: Connection, catalog: Catalog, action: ActionSpec, now: float, parent_job_id: int | None,
    event_bytes: int = 0,
) -> str:
    story_run = new_run_guid()
    keep = catalog.run_kept_for(action.story_id)
    _INSERT_RUN.run(conn, {"guid": story_run, "story_id": action.story_id, "created_at": now,
                               "expires_at": now + keep, "parent_job_id": parent_job_id, "event_bytes": event_bytes})
    return story_run


def _over_budget(story_run: str, limit: int) -> ActionError:
    """STORYLINE_MAX_RUN_BYTES reached: a permanent failure, since running it again writes as much again."""
    return ActionError(
        f"story run {story_run} wrote more than {limit} bytes of events (STORYLINE_MAX_RUN_BYTES); nothing more "
        "is stored for it. Make the story emit less (explode fewer or smaller items, keep only the fields it "
        "needs) or raise STORYLINE_MAX_RUN_BYTES"
    )


def ingest(
    conn: Connection, catalog: Catalog, action: ActionSpec, body: Any, now: float, *,
    parent_job_id: int | None = None,
) -> Ingested:
    """Record what a webhook received (or a Send to Story sent); durable once the caller commits.

    The run's byte count starts with this event; the budget is held by what the run goes
    on to emit (a body is bounded by STORYLINE_MAX_BODY_BYTES before it gets here).
    """
    return _first_event(conn, catalog, action, _own_output(action, body), now, parent_job_id)


def reemit(conn: Connection, catalog: Catalog, action: ActionSpec, view: Mapping[str, Any], now: float) -> Ingested:
    """Run the receivers of an event ``action`` emitted again, on its ``view``, in a new story run.

    The new run's first event holds the whole view and no parent (as rows from before migration
    0003 do): its receivers see what the first ones saw, and it does not lean on the old run's
    events, which expire on their own schedule.
    """
    return _first_event(conn, catalog, action, json_text(dict(view)), now, None)


def _first_event(
    conn: Connection, catalog: Catalog, action: ActionSpec, own: JsonText, now: float, parent_job_id: int | None
) -> Ingested:
    """A new story run, its first event ``own`` and one queued job per enabled receiver."""
    story_run = _new_run(conn, catalog, action, now, parent_job_id, own.size)
    event_id = _insert_event(conn, catalog, action, story_run, own, None, now, None, 0)
    rows = [
        _job_row(receiver.id, event_id, story_run, now)
        for receiver in catalog.receivers_of(action.id)
        if not receiver.disabled
    ]
    _enqueue(conn, rows)
    return Ingested(event_id, story_run, len(rows))


def start_run(conn: Connection, catalog: Catalog, action: ActionSpec, now: float) -> str:
    """A new story run whose first job is ``action`` itself with an empty event (a schedule tick)."""
    story_run = _new_run(conn, catalog, action, now, None)
    _enqueue(conn, [_job_row(action.id, None, story_run, now)])
    return story_run


@functools.cache
def _claim_statement(dialect: str) -> sa.Update:
    j = t.jobs.c
    due = (
        sa.select(j.id)
        .where(j.status == "queued", j.run_after <= sa.bindparam("now"))
        .order_by(j.run_after, j.id)
        .limit(sa.bindparam("limit"))
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return (
        t.jobs.update()
        .where(j.id.in_(due.scalar_subquery()))
        .values(status="running", worker=sa.bindparam("owner"), lease_until=sa.bindparam("until"),
                attempts=j.attempts + 1)
        .returning(j.id, j.action_id, j.event_id, j.story_run, j.attempts, j.state, j.run_after)
    )


def claim(conn: Connection, worker: str, limit: int, lease_seconds: float, now: float) -> list[Job]:
    """Lease due jobs with their incoming events (``lease`` then ``with_events``, in one transaction)."""
    return with_events(conn, lease(conn, worker, limit, lease_seconds, now))


def lease(conn: Connection, worker: str, limit: int, lease_seconds: float, now: float) -> list[Any]:
    """Lease due jobs: the rows, without their events, so that the writer does no more than the update."""
    return list(conn.execute(
        _claim_statement(conn.dialect.name),
        {"now": now, "limit": limit, "owner": worker, "until": now + lease_seconds},
    ).all())


def with_events(conn: Connection, rows: list[Any]) -> list[Job]:
    """Leased rows as jobs with their incoming events, assembled with one query sharing what they share.

    Events never change once written, so a read transaction after the lease sees what the lease saw.
    """
    if not rows:
        return []
    views = events.views(conn, (row.event_id for row in rows if row.event_id is not None))

    def incoming(row: Any) -> Mapping[str, Any]:
        if row.event_id is None or views.story_run(row.event_id) != row.story_run:
            return {}
        return views.get(row.event_id) or {}

    return sorted(
        (
            Job(row.id, row.action_id, row.event_id, row.story_run, row.attempts, row.state, incoming(row),
                row.run_after)
            for row in rows
        ),
        key=lambda job: job.id,
    )


@functools.cache
def _release_statement(columns: tuple[str, ...]) -> Hot:
    j = t.jobs.c
    return Hot(
        t.jobs.update()
        .where(j.id == sa.bindparam("job_id"), j.worker == sa.bindparam("owner"), j.status == "running")
        .values(lease_until=None, **{column: sa.bindparam(f"new_{column}") for column in columns}),
        ("job_id", "owner", *(f"new_{column}" for column in columns)),
    )


def _release(conn: Connection, job: Job, owner: str, **values: Any) -> None:
    params = {f"new_{column}": value for column, value in values.items()}
    changed = _release_statement(tuple(values)).run(conn, {"job_id": job.id, "owner": owner, **params})
    if changed != 1:
        raise LeaseLost(f"job {job.id} is no longer leased to {owner}")


def _log(conn: Connection, action_id: int, job_id: int | None, story_run: str | None, level: str,
         message: str, now: float) -> None:
    _INSERT_LOG.run(conn, {"action_id": action_id, "job_id": job_id, "story_run": story_run, "level": level,
                               "message": message, "created_at": now})


class Step:
    """Files one job's result and runs the pure actions downstream of it, in one transaction.

    ``job_id`` is the job whose run this is (None for events born outside a job, such as
    a prompt click); with ``idx`` it keys every event written, so a re-run cannot
    write an event twice.

    Downstream jobs become due at ``due``, the time their parent became due (never
    later than now), not at ``now``: the queue is served oldest-due first, so under
    a flood the runs that started first finish first instead of every run's first
    step going before anyone's second.
    """

    def __init__(
        self, conn: Connection, catalog: Catalog, runtime: Runtime, job_id: int | None, story_run: str, now: float,
        due: float | None = None,
    ) -> None:
        self.conn = conn
        self.catalog = catalog
        self.runtime = runtime
        self.job_id = job_id
        self.story_run = story_run
        self.now = now
        self.due = now if due is None else min(due, now)
        self._idx = 0
        self._inline = 0
        self._jobs: list[dict[str, Any]] = []
        self._bytes = 0
        self._max_bytes = runtime.settings.max_run_bytes

    def file(self, action: ActionSpec, incoming: Mapping[str, Any], result: Result, parent_id: int | None) -> None:
        """File ``result`` as emitted on the event ``parent_id``, whose view is ``incoming``."""
        self._file(action, incoming, self._encode(action, result), result.logs, parent_id)

    def _encode(self, action: ActionSpec, result: Result) -> list[tuple[Any, JsonText]]:
        """Each output, redacted, with the JSON its row will hold; refuses what must not be stored.

        All of them before anything is written, so that an action is filed whole or not at all.
        """
        encoded, size = [], self._bytes
        for output in result.events:
            output = self.runtime.redact(output)
            own = _own_output(action, output)
            if jsondata.deeper_than(output, jsondata.MAX_DEPTH, own):
                raise ActionError(
                    f"action {action.name!r} emitted an event that nests deeper than {jsondata.MAX_DEPTH} levels "
                    "of objects and arrays, which storyline does not store; flatten what it emits"
                )
            size += own.size
            if size > self._max_bytes:
                raise _over_budget(self.story_run, self._max_bytes)
            encoded.append((output, own))
        self._bytes = size
        return encoded

    def _file(
        self, action: ActionSpec, incoming: Mapping[str, Any], encoded: list[tuple[Any, JsonText]], logs: list[str],
        parent_id: int | None,
    ) -> None:
        for message in logs:
            _log(self.conn, action.id, self.job_id, self.story_run, "info", self.runtime.redact(message), self.now)
        receivers = [receiver for receiver in self.catalog.receivers_of(action.id) if not receiver.disabled]
        for output, own in encoded:
            event_id = _insert_event(
                self.conn, self.catalog, action, self.story_run, own, parent_id, self.now, self.job_id, self._idx
            )
            self._idx += 1
            if receivers:
                # The view the receivers get: shares ``incoming``'s values, copies none of them.
                view = {**incoming, action.key: output}
                for receiver in receivers:
                    self._dispatch(receiver, event_id, view)
            if action.id in self.catalog.exits:
                _exit_reached(self.conn, self.catalog, self.runtime, output, self.story_run, self.now)

    def _dispatch(self, action: ActionSpec, event_id: int, payload: Mapping[str, Any]) -> None:
        module = runnable(action.type)
        if (module is None or not module.PURE or self._inline >= MAX_INLINE or not self.runtime.ready(action)
                or action.id in self.runtime.outside_writer):
            self._jobs.append(_job_row(action.id, event_id, self.story_run, self.now, run_after=self.due))
            return
        self._inline += 1
        # Only a stateful action is given its state, and runs in a savepoint: state it wrote before
        # failing must not outlive the failure. One that keeps none has nothing to undo (a savepoint
        # is two statements).
        stateful = module.needs_state(action.options)
        ctx = self.runtime.context(
            action, payload, self.story_run, self.now,
            state=SqlActionState(self.conn, action.id, self.now) if stateful else None, event_id=event_id,
        )
        budget = regexes.Budget(INLINE_REGEX_SECONDS)
        try:
            with self.conn.begin_nested() if stateful else contextlib.nullcontext(), regexes.budget(budget):
                result = module.run(ctx)
            encoded = self._encode(action, result)
        except Exception as exc:
            if is_transient(exc):
                raise  # the whole transaction is run again (engine/database.py)
            if budget.exceeded and not stateful:
                self.runtime.outside_writer.add(action.id)
            # Let the queue retry it (outside the writer if a regex ran out of its budget here)
            # and record the failure the usual way.
            self._jobs.append(_job_row(action.id, event_id, self.story_run, self.now, run_after=self.due))
            return
        if result.defer_until is not None:
            self._jobs.append(
                _job_row(action.id, event_id, self.story_run, self.now,
                         run_after=result.defer_until, state=result.state)
            )
        self._file(action, payload, encoded, result.logs, event_id)

    def flush(self) -> None:
        """Enqueue the jobs downstream and count the run's bytes, refusing the step if they are over budget."""
        if self._bytes:
            total = run_bytes.add(self.conn, self.story_run, self._bytes)
            if total is not None and total > self._max_bytes:
                raise _over_budget(self.story_run, self._max_bytes)
        _enqueue(self.conn, self._jobs)
        self._jobs = []


def run_pure(
    conn: Connection, catalog: Catalog, runtime: Runtime, job: Job, worker: str, now: float, *,
    budgeted: bool = True,
) -> None:
    """Run a pure action's job start to finish inside the writer's transaction.

    Its regexes get the writer's budget (``budgeted``); one that runs out raises
    :class:`OutsideWriter` and the caller runs the job where only the job waits on it.
    """
    action = catalog.actions[job.action_id]
    module = runnable(action.type)
    assert module is not None and module.PURE
    ctx = runtime.context(
        action, job.payload, job.story_run, now,
        attempt=job.attempts, job_state=job.state, state=SqlActionState(conn, action.id, now), event_id=job.event_id,
    )
    if not budgeted:
        complete(conn, catalog, runtime, job, worker, module.run(ctx), now)
        return
    with regexes.budget(regexes.Budget(INLINE_REGEX_SECONDS)) as budget:
        try:
            result = module.run(ctx)
        except Exception:
            if budget.exceeded:
                if not module.needs_state(action.options):
                    runtime.outside_writer.add(action.id)
                raise OutsideWriter(f"job {job.id}: a regex needs more than the writer's budget") from None
            raise
    complete(conn, catalog, runtime, job, worker, result, now)


def complete(
    conn: Connection, catalog: Catalog, runtime: Runtime, job: Job, worker: str, result: Result, now: float
) -> None:
    action = catalog.actions[job.action_id]
    if result.remember or result.forget:
        state = SqlActionState(conn, action.id, now)
        for bucket in result.forget:
            state.clear(bucket)
        for bucket, value in result.remember:
            state.append(bucket, value)
    if result.send_to_story is not None:
        _start_sub_run(conn, catalog, job, worker, action, result.send_to_story, now)
        return
    if result.defer_until is not None and not result.events:
        # Not done yet (delay, implode timeout): the same job runs again later.
        _release(conn, job, worker, status="queued", run_after=result.defer_until, state=result.state,
                 attempts=job.attempts - 1, worker=None)
        return
    _release(conn, job, worker, status="done", finished_at=now, state=None, error=None)
    # An event retention has removed is no one's parent.
    parent_id = job.event_id if job.payload else None
    emit(conn, catalog, runtime, action, job.payload, result, job.story_run, now, parent_id=parent_id,
         job_id=job.id, due=job.run_after)
    if catalog.story(action.story_id).send_to_story_enabled:
        _settle(conn, job.story_run, now)


def emit(
    conn: Connection, catalog: Catalog, runtime: Runtime, action: ActionSpec, incoming: Mapping[str, Any],
    result: Result, story_run: str, now: float, *, parent_id: int | None, job_id: int | None = None,
    due: float | None = None,
) -> None:
    """File an action's result in a story run: its events, logs, and everything downstream.

    ``parent_id`` is the event the action received (None for none), ``incoming`` its view.
    """
    step = Step(conn, catalog, runtime, job_id, story_run, now, due)
    step.file(action, incoming, result, parent_id)
    step.flush()


def _start_sub_run(
    conn: Connection, catalog: Catalog, job: Job, worker: str, action: ActionSpec, request: SendToStory,
    now: float,
) -> None:
    """Send to Story: run the sub-story from its entry; the job waits until the run ends or expires."""
    story, entry = substory.target(conn, catalog, action, job.story_run, request.story)
    body = substory.entry_body(request.body, action, job.event_id)
    if jsondata.deeper_than(body, jsondata.MAX_DEPTH):
        raise ActionError(f"option 'payload' nests deeper than {jsondata.MAX_DEPTH} levels of objects and arrays, "
                          "which storyline does not store; flatten what it sends")
    sub = ingest(conn, catalog, entry, body, now, parent_job_id=job.id)
    _release(conn, job, worker, status="queued", run_after=now + story.keep_events_for,
             state={"sub_run": sub.story_run, "story": story.name}, attempts=job.attempts - 1, worker=None)
    _log(conn, action.id, job.id, job.story_run, "info", f"sent to story {story.name!r}, run {sub.story_run}", now)
    _settle(conn, sub.story_run, now)


def _exit_reached(
    conn: Connection, catalog: Catalog, runtime: Runtime, output: Any, story_run: str, now: float
) -> None:
    """An exit action emitted in a sub-story run: the calling action emits it in its own run."""
    parent = substory.parent(conn, story_run, lock=True)
    if parent is None or parent.action_id not in catalog.actions:
        return
    caller = catalog.actions[parent.action_id]
    incoming = substory.incoming(conn, parent.event_id)
    if incoming is None:
        _log(conn, caller.id, parent.job_id, parent.story_run, "warning",
             f"sub-story run {story_run} reached its exit after the calling event expired; nothing emitted", now)
        return
    if parent.waiting:
        conn.execute(
            t.jobs.update()
            .where(t.jobs.c.id == parent.job_id, t.jobs.c.status == "queued")
            .values(status="done", finished_at=now, state=None, error=None)
        )
    emit(conn, catalog, runtime, caller, incoming, Result(events=[output]), parent.story_run, now,
         parent_id=parent.event_id)
    if parent.waiting:
        _settle(conn, parent.story_run, now)


def _settle(conn: Connection, story_run: str, now: float) -> None:
    """A sub-story run with no work left and no exit reached: its caller is done (or failed) empty-handed."""
    parent = substory.parent(conn, story_run, lock=True)
    if parent is None or not parent.waiting or substory.busy(conn, story_run):
        return
    failure = substory.failure(conn, story_run)
    j = t.jobs.c
    done = t.jobs.update().where(j.id == parent.job_id, j.status == "queued")
    if failure:
        message = f"sub-story run {story_run} ended without reaching an exit action: {failure}"
        conn.execute(done.values(status="failed", finished_at=now, state=None, error=message))
        _log(conn, parent.action_id, parent.job_id, parent.story_run, "error", message, now)
    else:
        conn.execute(done.values(status="done", finished_at=now, state=None, error=None))
        _log(conn, parent.action_id, parent.job_id, parent.story_run, "info",
             f"sub-story run {story_run} finished without reaching an exit action; nothing emitted", now)
    _settle(conn, parent.story_run, now)


def backoff(settings_base: float, attempts: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return max(0.0, retry_after)
    return settings_base * (2 ** (attempts - 1))


def retry_or_fail(
    conn: Connection, job: Job, worker: str, error: BaseException, now: float, *, max_attempts: int,
    base_seconds: float, redact: Callable[[str], str] = str,
) -> str:
    """Put the job back with backoff, or record it failed when attempts are spent or the error is final.

    ``redact`` hides credential values the error message may quote (an upstream's echo).
    """
    message = redact(_describe(error))
    retryable = not isinstance(error, ActionError) or error.retryable
    if retryable and job.attempts < max_attempts:
        retry_after = error.retry_after if isinstance(error, ActionError) else None
        delay = backoff(base_seconds, job.attempts, retry_after)
        _release(conn, job, worker, status="queued", run_after=now + delay, error=message, worker=None)
        _log(conn, job.action_id, job.id, job.story_run, "warning",
             f"attempt {job.attempts} failed, retrying in {delay:.1f}s: {message}", now)
        return "retry"
    _release(conn, job, worker, status="failed", finished_at=now, error=message)
    _log(conn, job.action_id, job.id, job.story_run, "error",
         f"failed after {job.attempts} attempt(s): {message}", now)
    _settle(conn, job.story_run, now)
    return "failed"


def _describe(error: BaseException) -> str:
    if isinstance(error, ActionError):
        return str(error)
    frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else ""
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        # The database's own first line: not the statement, its parameters, or the server's
        # DETAIL (PostgreSQL quotes the row's values there).
        first = (str(error.orig).splitlines() or [""])[0]
        return f"database error ({type(error.orig).__name__}): {first}{where}"
    return f"{type(error).__name__}: {error}{where}"


def extend_leases(conn: Connection, job_ids: list[int], worker: str, until: float) -> None:
    if job_ids:
        j = t.jobs.c
        conn.execute(
            t.jobs.update()
            .where(j.id.in_(job_ids), j.worker == worker, j.status == "running")
            .values(lease_until=until)
        )


def reap(conn: Connection, now: float, max_attempts: int) -> int:
    """Give the jobs of dead workers (expired leases) back to the queue, or fail poison jobs."""
    j = t.jobs.c
    expired = sa.and_(j.status == "running", j.lease_until < now)
    failed = conn.execute(
        t.jobs.update()
        .where(expired, j.attempts >= max_attempts)
        .values(status="failed", finished_at=now, lease_until=None,
                error="the worker running this job stopped (lease expired) too many times")
    ).rowcount
    requeued = conn.execute(
        t.jobs.update().where(expired).values(status="queued", lease_until=None, worker=None)
    ).rowcount
    if requeued:
        _notify(conn)
    return failed + requeued


def hold(conn: Connection, job: Job, worker: str) -> bool:
    """Set aside a claimed job of a disabled story, unrun and uncounted, until the story is enabled again.

    Held jobs are not claimed (the claim takes ``queued`` ones only) and do not wake the
    worker; enabling the story queues them again (``store.stories.set_story_disabled``).
    The worker decides to hold from its catalog, which can be a second old: the story's row is
    read (and on PostgreSQL locked) here, so a story enabled meanwhile gets its job back in the
    queue (False) instead of held with nobody left to release it.
    """
    s, a = t.stories.c, t.actions.c
    disabled = conn.execute(
        sa.select(s.disabled).join(t.actions, a.story_id == s.id).where(a.id == job.action_id)
        .with_for_update(of=t.stories)
    ).scalar()
    held = bool(disabled)
    _release(conn, job, worker, status="held" if held else "queued", attempts=job.attempts - 1, worker=None)
    return held


def next_due(conn: Connection) -> float | None:
    j = t.jobs.c
    return conn.execute(sa.select(sa.func.min(j.run_after)).where(j.status == "queued")).scalar()


def recall(conn: Connection, action_id: int, bucket: str) -> list[Any]:
    """Read a bucket of an action's state outside a write transaction (for async actions)."""
    c = t.action_state.c
    query = sa.select(c.value).where(c.action_id == action_id, c.bucket == bucket).order_by(c.id)
    return [row.value for row in conn.execute(query)]

"""``storyline run``, ``events``, ``runs`` and ``logs``: running a story and reading what runs did."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from storyline import jsondata
from storyline.cli.common import (
    DbOption,
    JsonOption,
    console,
    err,
    fail,
    load_settings,
    open_engine,
    print_json,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def run_story(
    story: Annotated[str, typer.Argument(help="A Tines export file, or the name of an imported story")],
    input: Annotated[str, typer.Option("--input", help="JSON the entry webhook receives")] = "{}",
    action: Annotated[str | None, typer.Option(
        "--action", help="Start at this action (any without sources; not a webhook: as a schedule tick, event {})")] = None,
    db: DbOption = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds")] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Run one story to completion in a throwaway database, saying what each action does; exit 1 if one failed."""
    from storyline.credentials.keys import SecretKeyError
    from storyline.engine.oneshot import OneShotError, run_once
    from storyline.tines.importer import StoryFormatError

    try:
        body = jsondata.loads(input)
    except jsondata.JsonError as exc:
        raise fail(f"--input is {exc}") from None
    try:
        outcome = asyncio.run(run_once(story, body, load_settings(db), action=action, timeout=timeout,
                                       report=_progress))
    except (OneShotError, SecretKeyError, StoryFormatError) as exc:
        raise fail(str(exc)) from None
    _show_events(outcome.events, as_json)
    failed = sorted({line["action"] for line in outcome.failures})
    summary = f"run {outcome.story_run}: {len(outcome.events)} events"
    if failed:
        err.print(f"[red]{summary}; {len(failed)} action(s) failed: {', '.join(failed)}[/red]", highlight=False)
        raise typer.Exit(1)
    err.print(f"{summary}, no action failed", highlight=False)


def _progress(kind: str, item: dict[str, Any]) -> None:
    """One line per event and per log line (retries, failures), on stderr so --json stays clean."""
    when = (item.get("created_at") or "")[11:23]
    if kind == "event":
        text = jsondata.dumps(item["output"])
        line = f"{when}  {item['action']}: emitted {text if len(text) <= 100 else text[:97] + '...'}"
        err.print(line, markup=False, highlight=False)
        return
    level = item["level"]
    tag = {"error": "FAILED", "warning": "retry" if "retrying" in item["message"] else "warning"}.get(level, level)
    colour = {"error": "red", "warning": "yellow"}.get(level, "dim")
    err.print(f"[{colour}]{when}  {item['action']}: {tag}: {escape(item['message'])}[/{colour}]", highlight=False)


def _show_events(events: list[dict[str, Any]], as_json: bool) -> None:
    """JSON carries whole events; the table shows what each action itself emitted."""
    if as_json:
        print_json([{k: v for k, v in event.items() if k != "output"} for event in events])
        return
    table = Table("id", "time", "action", "run", "output")
    for event in events:
        text = jsondata.dumps(event["output"])
        table.add_row(
            str(event["id"]), event["created_at"][11:23], event["action"], event["story_run"][:8],
            text if len(text) < 200 else text[:197] + "...",
        )
    console.print(table)


LEVELS = ("info", "warning", "error")


def _did_you_mean(wanted: str, known: Iterable[str]) -> str:
    import difflib

    folded = {name.casefold(): name for name in known}
    close = [folded[k] for k in folded if wanted.casefold() in k]
    close += [folded[k] for k in difflib.get_close_matches(wanted.casefold(), list(folded), n=3, cutoff=0.6)
              if folded[k] not in close]
    return f"; did you mean {', '.join(repr(name) for name in close[:3])}?" if close else ""


def _check_names(conn: Connection, *, story: str | None = None, action: str | None = None) -> None:
    """An unknown story or action is an error naming close ones, not an empty table."""
    from storyline.store.queries import action_names
    from storyline.store.stories import StoryNotFoundError, story_id

    if story:
        try:
            story_id(conn, story)
        except StoryNotFoundError as exc:
            raise fail(str(exc)) from None
    if action:
        names = action_names(conn)
        if action not in names:
            raise fail(f"no action named or keyed {action!r}{_did_you_mean(action, names)}")


def events(
    story: Annotated[str | None, typer.Option("--story", help="Story name")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Action name or key")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Story run GUID (or its start)")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events")] = 100,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List events, newest last."""
    from storyline.store.queries import list_events

    engine = open_engine(load_settings(db))
    with engine.connect() as conn:
        _check_names(conn, story=story, action=action)
        rows = list_events(conn, story=story, action=action, run=run, limit=limit)
    _show_events(rows, as_json)


def runs(
    story: Annotated[str | None, typer.Option("--story", help="Story name")] = None,
    limit: Annotated[int, typer.Option(help="Newest N runs")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List story runs with their status: running, waiting (on an action due later), done or failed."""
    from storyline.store.queries import list_runs

    engine = open_engine(load_settings(db))
    with engine.connect() as conn:
        _check_names(conn, story=story)
        rows = list_runs(conn, story=story, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("run", "story", "started", "events", "pending", "failed", "status")
    for row in rows:
        status = row["status"]
        if row["waiting_on"]:
            status = f"waiting: {row['waiting_on']['action']} at {row['waiting_on']['due_at']}"
        table.add_row(row["guid"], row["story"], row["started_at"], str(row["events"]), str(row["pending"]),
                      str(row["failed"]), status)
    console.print(table)


def logs(
    story: Annotated[str | None, typer.Option("--story", help="Story name")] = None,
    level: Annotated[str | None, typer.Option(help="info, warning or error")] = None,
    limit: Annotated[int, typer.Option(help="Newest N lines")] = 100,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Action logs: retries, failures with their errors."""
    from storyline.store.queries import list_logs

    if level is not None and level not in LEVELS:
        raise fail(f"no log level {level!r} (the levels are {', '.join(LEVELS)}){_did_you_mean(level, LEVELS)}")
    engine = open_engine(load_settings(db))
    with engine.connect() as conn:
        _check_names(conn, story=story)
        rows = list_logs(conn, story=story, level=level, limit=limit)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        colour = {"error": "red", "warning": "yellow"}.get(row["level"], "dim")
        console.print(f"{row['created_at']} [{colour}]{row['level']:7}[/{colour}] {row['story']} / {row['action']}: "
                      f"{row['message']}", markup=True, highlight=False)

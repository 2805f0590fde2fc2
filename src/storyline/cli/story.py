"""``storyline story``: import, export, list and show stories."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table

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
from storyline.urls import webhook_url

app = typer.Typer(no_args_is_help=True, help="Import, export, list and show stories.")


@app.command("import")
def story_import(
    files: Annotated[list[Path], typer.Argument(help="Tines export JSON files")],
    db: DbOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a story with the same guid")] = False,
    as_new: Annotated[
        bool, typer.Option("--as-new", help="Import a copy with new guids (and new webhook paths where taken)")
    ] = False,
) -> None:
    """Import Tines story exports, each in one transaction (as `POST /api/v1/stories/import` does)."""
    from storyline.accounts.audit import cli_principal
    from storyline.operations.errors import OperationError
    from storyline.operations.stories import import_story
    from storyline.tines.importer import StoryFormatError, read_export

    if replace and as_new:
        raise fail("--replace and --as-new exclude each other: update the story, or import a copy")
    mode: Any = "versionReplace" if replace else "copy" if as_new else "new"
    engine = open_engine(load_settings(db))
    principal = cli_principal()
    failed = 0
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("importing", total=len(files))
        for path in files:
            try:
                data = read_export(path)
                with engine.begin() as conn:
                    imported = import_story(conn, principal, data, mode=mode, source=str(path), now=time.time())
            except (StoryFormatError, OSError, OperationError) as exc:
                failed += 1
                err.print(f"[red]error:[/red] {path}: {escape(_explained(exc))}")
            else:
                for warning in imported.warnings:
                    err.print(f"[yellow]warning:[/yellow] {path}: {escape(warning)}")
                story = imported.story
                console.print(f"imported [bold]{escape(story.name)}[/bold] ({len(story.actions)} actions) from {path}")
            progress.advance(task)
    if failed:
        raise typer.Exit(1)


def _explained(exc: Exception) -> str:
    """A refusal as the command line shows it: an operation's message, then each problem it lists."""
    from storyline.operations.errors import OperationError

    if not isinstance(exc, OperationError):
        return str(exc)
    problems = exc.detail if isinstance(exc.detail, list) else []
    return "\n".join([exc.message, *(f"  - {p['message']}" for p in problems if isinstance(p, dict))])


@app.command("list")
def story_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List stories and their webhook URLs."""
    from storyline.store.stories import list_stories

    engine = open_engine(load_settings(db))
    with engine.connect() as conn:
        stories = list_stories(conn)
    if as_json:
        print_json(stories)
        return
    table = Table("story", "actions", "webhooks")
    for story in stories:
        table.add_row(story["name"], str(story["actions"]), "\n".join(h["url"] for h in story["webhooks"]))
    console.print(table)


@app.command("show")
def story_show(name: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show a story's actions, their keys, and webhook URLs (on $STORYLINE_PUBLIC_URL, as `serve` prints them)."""
    from storyline.store.stories import StoryNotFoundError, load_story

    settings = load_settings(db)
    engine = open_engine(settings)
    try:
        with engine.connect() as conn:
            story = load_story(conn, name)
    except StoryNotFoundError as exc:
        raise fail(str(exc)) from None
    from storyline.credentials.vault import named

    actions = []
    credentials: set[str] = set()
    resources: set[str] = set()
    for index, action in enumerate(story.actions):
        item: dict[str, Any] = {"name": action.name, "key": action.key, "type": action.type, "guid": action.guid}
        if action.webhook_path is not None:
            item["webhook_url"] = webhook_url(settings.public_url, action.webhook_path, action.webhook_secret)
        item["receivers"] = [story.actions[r].name for r in story.receivers(index)]
        item["options"] = {k: v for k, v in action.options.items() if k != "secret"}
        used_credentials, used_resources = named(action.options)
        credentials |= used_credentials
        resources |= used_resources
        actions.append(item)
    shown = {"name": story.name, "guid": story.guid, "actions": actions,
             "links": [{"source": story.actions[a].name, "receiver": story.actions[b].name} for a, b in story.links],
             "credentials": sorted(credentials), "resources": sorted(resources)}
    if as_json:
        print_json(shown)
        return
    console.print(f"[bold]{story.name}[/bold]  guid {story.guid}")
    table = Table("action", Column("key", no_wrap=True), "type")
    for item in actions:
        table.add_row(item["name"], item["key"], item["type"].removeprefix("Agents::"))
    console.print(table)
    # Below the table, whole on one line each: a URL cut to the column's width cannot be copied.
    for item in actions:
        if "webhook_url" in item:
            console.print(f"webhook:  {item['webhook_url']}   [dim]({escape(item['name'])})[/dim]", highlight=False)
    for kind, names in (("credentials", credentials), ("resources", resources)):
        if names:
            console.print(f"needs {kind}: {', '.join(sorted(names))}", highlight=False, markup=False)


@app.command("export")
def story_export(
    name: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")] = None,
    db: DbOption = None,
) -> None:
    """Export a story as Tines JSON."""
    from storyline.store.stories import StoryNotFoundError, load_story
    from storyline.tines.exporter import export_story

    engine = open_engine(load_settings(db))
    try:
        with engine.connect() as conn:
            story = load_story(conn, name)
    except StoryNotFoundError as exc:
        raise fail(str(exc)) from None
    text = orjson.dumps(export_story(story), option=orjson.OPT_INDENT_2).decode() + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err.print(f"wrote {output}")

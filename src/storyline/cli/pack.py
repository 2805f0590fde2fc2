"""``storyline pack``: the story packs shipped with storyline."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from storyline.cli.common import (
    DbOption,
    JsonOption,
    console,
    err,
    fail,
    load_settings,
    open_engine,
    print_json,
    print_webhooks,
)

app = typer.Typer(no_args_is_help=True, help="Story packs shipped with storyline.")


@app.command("list")
def pack_list(as_json: JsonOption = False) -> None:
    """List the story packs and the credentials their stories use."""
    from storyline.operations.packs import shown
    from storyline.packs import PACKS

    rows: list[dict[str, Any]] = [shown(pack) for pack in PACKS.values()]
    if as_json:
        print_json(rows)
        return
    table = Table("pack", "stories", "description")
    for row in rows:
        table.add_row(row["name"], str(len(row["stories"])), row["description"])
    console.print(table)


@app.command("install")
def pack_install(
    name: Annotated[str, typer.Argument(help="The pack, as `storyline pack list` names it")],
    db: DbOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Update the pack's stories already installed")] = False,
) -> None:
    """Import a pack's stories and the tuning resources it needs (existing resources are kept)."""
    from storyline import packs
    from storyline.accounts.audit import cli_actor
    from storyline.operations.packs import install
    from storyline.store.stories import list_stories

    settings = load_settings(db)
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            done = install(conn, cli_actor(), name, replace=replace)
            ours = [s for s in list_stories(conn) if s["name"] in {*done.stories, *done.skipped}]
    except ValueError as exc:
        raise fail(str(exc)) from None
    for warning in done.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    for story in done.stories:
        console.print(f"installed [bold]{story}[/bold]")
    for story in done.skipped:
        console.print(f"already installed: [bold]{story}[/bold] (--replace updates it)")
    for resource in done.resources:
        console.print(f"resource [bold]{resource}[/bold] set to its default")
    pack = packs.get(name)
    console.print(f"credentials its stories use: {', '.join(pack.credentials)}")
    console.print("webhook URLs, with this install's secrets (`storyline story show NAME` shows them again):")
    print_webhooks(ours, settings.public_url)


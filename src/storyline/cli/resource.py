"""``storyline resource``: shared values stories read."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from storyline import jsondata
from storyline.cli.common import (
    DbOption,
    JsonOption,
    console,
    delete_named,
    fail,
    load_settings,
    open_engine,
    print_json,
)

app = typer.Typer(
    no_args_is_help=True, help="Shared values: {% global_resource NAME %}, {{.RESOURCE.NAME.key}}, <<RESOURCE.NAME>>."
)


@app.command("set")
def resource_set(
    name: Annotated[str, typer.Argument(help="Name templates use: RESOURCE.<name>")],
    value: Annotated[str, typer.Argument(help="The value (text, or JSON with --json)")],
    as_json: Annotated[bool, typer.Option("--json", help="VALUE is JSON (an object, array, number ...)")] = False,
    db: DbOption = None,
) -> None:
    """Create or replace a resource."""
    from storyline.accounts.audit import cli_actor
    from storyline.operations import resources

    parsed: Any = value
    if as_json:
        try:
            parsed = jsondata.loads(value)
        except jsondata.JsonError as exc:
            raise fail(f"VALUE is {exc}") from None
    try:
        with open_engine(load_settings(db)).begin() as conn:
            resources.save(conn, cli_actor(), name, parsed, time.time())
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"resource [bold]{name}[/bold] saved")


@app.command("list")
def resource_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Resources and their values."""
    from storyline.store.resources import list_resources

    with open_engine(load_settings(db)).connect() as conn:
        rows = list_resources(conn)
    if as_json:
        print_json(rows)
        return
    table = Table("resource", "value")
    for row in rows:
        text = row["value"] if isinstance(row["value"], str) else orjson.dumps(row["value"]).decode()
        table.add_row(row["name"], text if len(text) < 200 else text[:197] + "...")
    console.print(table)


@app.command("delete")
def resource_delete(name: str, db: DbOption = None) -> None:
    """Delete a resource."""
    from storyline.operations import resources

    delete_named("resource", lambda conn, actor: resources.remove(conn, actor, name), name, db)

"""``storyline audit``: who changed what, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from storyline.cli.common import DbOption, JsonOption, console, fail, load_settings, open_engine, print_json


def audit(
    limit: Annotated[int, typer.Option("--limit", help="Newest N entries")] = 100,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The audit log: changes to stories, credentials, resources, packs, users and tokens, newest first."""
    from storyline.accounts.audit import entries

    if limit < 1:
        raise fail("--limit must be 1 or more")
    with open_engine(load_settings(db)).connect() as conn:
        rows = entries(conn, limit)
    if as_json:
        print_json(rows)
        return
    table = Table("time", "actor", "action", "target", "summary")
    for row in rows:
        table.add_row(row["time"], escape(row["actor"]), row["action"], escape(row["target"]), escape(row["summary"]))
    console.print(table)

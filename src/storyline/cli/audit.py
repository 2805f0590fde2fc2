"""``storyline audit``: who changed what, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

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
    # One line each, as `storyline logs` prints: whole, whatever the terminal's width, and grep-able.
    for row in rows:
        console.print(f"{row['time']}  {row['actor']}  {row['action']}  {row['target']}: {row['summary']}",
                      markup=False, highlight=False)

"""``storyline db``: the database schema."""

from __future__ import annotations

import typer

from storyline.cli.common import DbOption, console, load_settings, open_engine

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema."""
    from storyline.store.db import current_revision

    settings = load_settings(db)
    engine = open_engine(settings)
    console.print(f"database at revision {current_revision(engine)}: {settings.database_url}")

"""What every command group shares: the consoles, the --db and --json options, settings and database, errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from storyline import jsondata
from storyline.config import Settings
from storyline.urls import webhook_url

if TYPE_CHECKING:  # the database is imported by the commands that open one (`--help` opens none)
    from sqlalchemy.engine import Connection, Engine

PIPED_WIDTH = 1000
"""Output read by a program or a file is not cut to 80 columns: keys and URLs are what it is for."""
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: $STORYLINE_DATABASE_URL)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]


def load_settings(db: str | None = None, **overrides: Any) -> Settings:
    return Settings.from_env(database_url=db, **overrides)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print the error; the caller raises what this returns, so type checkers see the command end."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def open_engine(settings: Settings) -> Engine:
    """The database, migrated to the current schema (every command may be the first to touch it)."""
    from storyline.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    upgrade(engine)
    return engine


def check_key(engine: Engine, settings: Settings) -> None:
    """Fail with a clear message, before anything starts, when the key does not open the credentials."""
    from storyline.credentials.cipher import Cipher
    from storyline.credentials.keys import SecretKeyError
    from storyline.credentials.stored import load_credentials

    try:
        cipher = Cipher.for_database(settings.database_url)
        with engine.connect() as conn:
            load_credentials(conn, cipher)
    except SecretKeyError as exc:
        raise fail(str(exc)) from None


def print_json(value: Any) -> None:
    sys.stdout.write(jsondata.dumps(value, indent=True) + "\n")


def print_webhooks(stories: list[dict[str, Any]], public_url: str) -> None:
    for story in stories:
        for hook in story["webhooks"]:
            url = webhook_url(public_url, hook["path"], hook["secret"])
            console.print(f"  webhook:  {url}   [dim]({story['name']} / {hook['name']})[/dim]")


def delete_named(kind: str, remove: Callable[[Connection, str], object], name: str, db: str | None) -> None:
    """Delete a credential or resource by name: ``remove(conn, actor)`` deletes and audits it, or
    raises ``NotFound``."""
    from storyline.accounts.audit import cli_actor
    from storyline.operations.errors import NotFound

    try:
        with open_engine(load_settings(db)).begin() as conn:
            remove(conn, cli_actor())
    except NotFound:
        raise fail(f"no {kind} named {name!r}; `storyline {kind} list` shows them") from None
    console.print(f"{kind} [bold]{name}[/bold] deleted")

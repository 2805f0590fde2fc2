"""``storyline token``: API tokens for scripts, each with a role; shown once, stored hashed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from storyline.accounts.roles import Role
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

app = typer.Typer(no_args_is_help=True,
                  help="API tokens for scripts: the REST API (/api/v1, see docs/api.md) takes them as a Bearer token.")


@app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. soar-sync: how lists and the audit log name it")],
    role: Annotated[Role, typer.Option("--role", help="viewer, editor or admin", case_sensitive=False)],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it, this once: only its hash is stored."""
    from storyline.accounts.audit import cli_actor
    from storyline.accounts.tokens import create_token

    try:
        with open_engine(load_settings(db)).begin() as conn:
            token = create_token(conn, name, role, actor=cli_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"name": name, "role": role.value, "token": token})
        return
    sys.stdout.write(token + "\n")
    err.print(f"token {name} ({role}) created. It is shown this once: store it now (a lost token is revoked "
              "and created again).", markup=False, highlight=False)


@app.command("list")
def token_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Tokens: name, role, created, last used; never the token."""
    from storyline.accounts.tokens import list_tokens

    with open_engine(load_settings(db)).connect() as conn:
        rows = list_tokens(conn)
    if as_json:
        print_json(rows)
        return
    table = Table("token", "role", "created", "last used", "created by")
    for row in rows:
        table.add_row(row["name"], row["role"], row["created"], row["last_used"] or "never", row["created_by"] or "")
    console.print(table)


@app.command("revoke")
def token_revoke(name: str, db: DbOption = None) -> None:
    """Revoke a token: it stops working at once."""
    from storyline.accounts.audit import cli_actor
    from storyline.accounts.tokens import revoke_token

    try:
        with open_engine(load_settings(db)).begin() as conn:
            revoke_token(conn, name, actor=cli_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"token [bold]{name}[/bold] revoked")

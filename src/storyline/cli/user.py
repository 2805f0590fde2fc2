"""``storyline user``: people who will sign in to the web console, each with a role."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from storyline.accounts.roles import Role
from storyline.cli.common import DbOption, JsonOption, console, fail, load_settings, open_engine, print_json

app = typer.Typer(no_args_is_help=True,
                  help="Users and their roles (viewer, editor, admin): who can sign in to the console at /login and what they may do.")

RoleArgument = Annotated[Role, typer.Argument(help="viewer, editor or admin", case_sensitive=False)]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from standard input (one line) instead of asking for it")]


def read_password(email: str, from_stdin: bool) -> str:
    """The new password: one line of standard input, or asked for twice, hidden, in a terminal.

    The address is checked first, so nobody types a password for a command that fails anyway.
    """
    from storyline.accounts.users import normalise_email

    try:
        normalise_email(email)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise fail("no terminal to ask for the password in: give --password-stdin and pipe it in")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The user's e-mail address: their name when they sign in")],
    role: Annotated[Role, typer.Option("--role", help="viewer, editor or admin", case_sensitive=False)],
    password_stdin: PasswordStdin = False,
    db: DbOption = None,
) -> None:
    """Add a user (the password is asked for twice, or read with --password-stdin)."""
    from storyline.accounts.audit import cli_actor
    from storyline.accounts.users import add_user

    password = read_password(email, password_stdin)
    try:
        with open_engine(load_settings(db)).begin() as conn:
            address = add_user(conn, email, role, password, actor=cli_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"user [bold]{escape(address)}[/bold] ({role}) added")


@app.command("list")
def user_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Users and their roles."""
    from storyline.accounts.users import list_users

    with open_engine(load_settings(db)).connect() as conn:
        rows = list_users(conn)
    if as_json:
        print_json(rows)
        return
    table = Table("user", "role", "created")
    for row in rows:
        table.add_row(escape(row["email"]), row["role"], row["created"])
    console.print(table)


@app.command("remove")
def user_remove(email: str, db: DbOption = None) -> None:
    """Remove a user and end their sessions (the last admin stays)."""
    from storyline.accounts.audit import cli_actor
    from storyline.accounts.users import remove_user

    try:
        with open_engine(load_settings(db)).begin() as conn:
            address = remove_user(conn, email, actor=cli_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"user [bold]{escape(address)}[/bold] removed")


@app.command("set-password")
def user_set_password(email: str, password_stdin: PasswordStdin = False, db: DbOption = None) -> None:
    """Give a user a new password; their browser sessions end."""
    from storyline.accounts.audit import cli_actor
    from storyline.accounts.users import set_password

    password = read_password(email, password_stdin)
    try:
        with open_engine(load_settings(db)).begin() as conn:
            address = set_password(conn, email, password, actor=cli_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"password of [bold]{escape(address)}[/bold] changed")


@app.command("set-role")
def user_set_role(email: str, role: RoleArgument, db: DbOption = None) -> None:
    """Change a user's role (the last admin stays admin)."""
    from storyline.accounts.audit import cli_actor
    from storyline.accounts.users import set_role

    try:
        with open_engine(load_settings(db)).begin() as conn:
            address = set_role(conn, email, role, actor=cli_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"[bold]{escape(address)}[/bold] is now {role}")

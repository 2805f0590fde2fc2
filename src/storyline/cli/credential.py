"""``storyline credential``: secrets, encrypted at rest."""

from __future__ import annotations

import time
from typing import Annotated

import orjson
import typer
from rich.table import Table

from storyline.cli.common import (
    DbOption,
    JsonOption,
    console,
    delete_named,
    err,
    fail,
    load_settings,
    open_engine,
    print_json,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Secrets, encrypted at rest: {% credential NAME %}, {{.CREDENTIAL.NAME}}, <<CREDENTIAL.NAME>>.",
)


@app.command("set")
def credential_set(
    name: Annotated[str, typer.Argument(help="Name templates use: CREDENTIAL.<name>")],
    value: Annotated[str | None, typer.Option("--value", help="A text credential's value")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Read the text value from this environment variable")] = None,
    oauth2: Annotated[bool, typer.Option("--oauth2-client-credentials",
                                         help="An OAuth2 client-credentials token, fetched when used")] = False,
    token_url: Annotated[str | None, typer.Option("--token-url", help="OAuth2 token endpoint")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="OAuth2 client id")] = None,
    client_secret: Annotated[str | None, typer.Option("--client-secret", help="OAuth2 client secret")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="OAuth2 scope")] = None,
    http_request: Annotated[str | None, typer.Option(
        "--http-request", help='HTTP Request options as JSON ({"url": ..., "method": ..., "payload": ...}) '
                               "whose response holds the value")] = None,
    token_path: Annotated[str | None, typer.Option(
        "--token-path", help="Where the value is in that response, e.g. body.access_token")] = None,
    ttl: Annotated[float, typer.Option("--ttl", help="Seconds the fetched value is kept")] = 3600.0,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Only send it to this host (repeatable; *.example.com matches subdomains)")] = None,
    db: DbOption = None,
) -> None:
    """Create or replace a credential (the value is never printed)."""
    import os

    from storyline.accounts.audit import cli_actor
    from storyline.credentials import model as creds
    from storyline.credentials.cipher import Cipher
    from storyline.credentials.keys import SecretKeyError
    from storyline.operations import credentials

    kinds = [flag for flag, given in (("--value", value is not None), ("--env", env is not None),
                                      ("--oauth2-client-credentials", oauth2), ("--http-request", http_request))
             if given]
    if len(kinds) != 1:
        raise fail("give exactly one of --value, --env, --oauth2-client-credentials or --http-request"
                    + (f" (got {', '.join(kinds)})" if kinds else ""))
    try:
        if env is not None:
            if env not in os.environ:
                raise fail(f"--env {env}: that environment variable is not set")
            text = os.environ[env]
            # A value copied from a file often keeps the file's final newline; one at the end is
            # never part of a key. Any other control character is refused (``creds.text``).
            if text.endswith("\n"):
                text = text.removesuffix("\n").removesuffix("\r")
                err.print(f"[yellow]note:[/yellow] --env {env}: the value ended in a line break, which was removed")
            credential = creds.text(name, text, allowed_hosts=allowed_host)
        elif value is not None:
            credential = creds.text(name, value, allowed_hosts=allowed_host)
        elif oauth2:
            credential = creds.oauth2(name, token_url=token_url or "", client_id=client_id or "",
                                      client_secret=client_secret or "", scope=scope, allowed_hosts=allowed_host)
        else:
            try:
                options = orjson.loads(http_request or "")
            except orjson.JSONDecodeError as exc:
                raise fail(f"--http-request is not valid JSON: {exc}") from None
            credential = creds.http_request(name, options=options, token_path=token_path or "", ttl=ttl,
                                            allowed_hosts=allowed_host)
    except ValueError as exc:
        raise fail(str(exc)) from None
    settings = load_settings(db)
    engine = open_engine(settings)
    try:
        cipher = Cipher.for_database(settings.database_url)
        with engine.begin() as conn:
            credentials.save(conn, cli_actor(), cipher, credential, time.time())
    except SecretKeyError as exc:
        raise fail(str(exc)) from None
    console.print(f"credential [bold]{name}[/bold] ({credential.kind}) saved")


@app.command("list")
def credential_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Credential names and kinds; never their values."""
    from storyline.credentials.stored import list_credentials

    with open_engine(load_settings(db)).connect() as conn:
        rows = list_credentials(conn)
    if as_json:
        print_json(rows)
        return
    table = Table("credential", "kind", "allowed hosts")
    for row in rows:
        table.add_row(row["name"], row["kind"], ", ".join(row["allowed_hosts"]) or "any")
    console.print(table)


@app.command("delete")
def credential_delete(name: str, db: DbOption = None) -> None:
    """Delete a credential; stories that use it fail with "credential 'NAME' is not defined"."""
    from storyline.operations import credentials

    delete_named("credential", lambda conn, actor: credentials.remove(conn, actor, name), name, db)

"""The storyline command line (see DESIGN.md, "Command-line contract")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import Connection

from storyline import jsondata
from storyline.config import Settings
from storyline.urls import webhook_url

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Run Tines-format stories, durably.")
story_app = typer.Typer(no_args_is_help=True, help="Import, export, list and show stories.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
credential_app = typer.Typer(
    no_args_is_help=True,
    help="Secrets, encrypted at rest: {% credential NAME %}, {{.CREDENTIAL.NAME}}, <<CREDENTIAL.NAME>>.",
)
resource_app = typer.Typer(
    no_args_is_help=True, help="Shared values: {% global_resource NAME %}, {{.RESOURCE.NAME.key}}, <<RESOURCE.NAME>>."
)
app.add_typer(story_app, name="story")
app.add_typer(db_app, name="db")
app.add_typer(credential_app, name="credential")
app.add_typer(resource_app, name="resource")
tines_app = typer.Typer(no_args_is_help=True, help="Tines compatibility: what of an export storyline would not run.")
app.add_typer(tines_app, name="tines")
template_app = typer.Typer(no_args_is_help=True, help="Ready-made chat actions to paste into a story.")
app.add_typer(template_app, name="template")
chat_app = typer.Typer(no_args_is_help=True, help="Talk to your bot locally, as Slack or Teams would.")
app.add_typer(chat_app, name="chat")
pack_app = typer.Typer(no_args_is_help=True, help="Story packs shipped with storyline.")
app.add_typer(pack_app, name="pack")
key_app = typer.Typer(no_args_is_help=True, help="The secret key that encrypts credentials and signs prompt links.")
app.add_typer(key_app, name="key")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: $STORYLINE_DATABASE_URL)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]


def _settings(db: str | None = None, **overrides: Any) -> Settings:
    return Settings.from_env(database_url=db, **overrides)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from storyline.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    upgrade(engine)
    return engine


def _check_key(engine: Any, settings: Settings) -> None:
    """Fail with a clear message, before anything starts, when the key does not open the credentials."""
    from storyline.credentials.cipher import Cipher
    from storyline.credentials.keys import SecretKeyError
    from storyline.credentials.stored import load_credentials

    try:
        cipher = Cipher.for_database(settings.database_url)
        with engine.connect() as conn:
            load_credentials(conn, cipher)
    except SecretKeyError as exc:
        raise _fail(str(exc)) from None


def _print_json(value: Any) -> None:
    sys.stdout.write(jsondata.dumps(value, indent=True) + "\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    db: DbOption = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the bundled demo stories; answer as VirusTotal, URLhaus, RDAP, Slack, Teams")
    ] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve webhooks only; run workers apart")] = False,
) -> None:
    """Serve webhooks, run the worker and the scheduler, in one process."""
    import uvicorn

    from storyline.web import server
    from storyline.web.app import create_app

    local = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
    public = None if _env_public_url() else local
    settings = _settings(db, public_url=public)
    if demo:
        settings = _with_sandbox(settings, local)
    engine = _engine(settings)
    _check_key(engine, settings)
    if demo:
        from storyline import packs, sandbox
        from storyline.credentials.cipher import Cipher
        from storyline.stories import install_demo

        with engine.begin() as conn:
            for name in install_demo(conn):
                console.print(f"demo story loaded: [bold]{name}[/bold]")
            for name in packs.install(conn, "security-chatbot").stories:
                console.print(f"pack story loaded: [bold]{name}[/bold]")
            added = sandbox.configure_demo(conn, Cipher.for_database(settings.database_url), time.time())
            if added:
                console.print(f"demo values set (replace them with real ones to go live): {', '.join(added)}")
    _print_urls(engine, settings)
    engine.dispose()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not _loopback(host):
        sandbox_note = ", the demo sandbox (/_sandbox/, --demo)" if settings.sandbox else ""
        logging.getLogger("storyline.serve").warning(
            "listening on %s:%d, reachable beyond this machine. Reachable: the webhooks (/webhook/..., each "
            "behind its secret unless its story sets none), prompt links (/prompt, each signed for one "
            "answer)%s and /healthz. Not reachable: stories, webhook URLs, credentials, events (no console; / "
            "only says what this server is). Put a TLS proxy in front: README, \"Serving on a network\".",
            host, port, sandbox_note)
    web = uvicorn.Server(server.config(create_app(settings, worker=not no_worker), settings, host=host, port=port))
    with contextlib.suppress(KeyboardInterrupt):
        web.run()
    if not web.started:
        raise typer.Exit(3)  # uvicorn said why (the port in use, the database...)


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, assume the network


def _with_sandbox(settings: Settings, local_url: str) -> Settings:
    """Serve the offline sandbox and send the services it plays there, unless the user overrode them."""
    from dataclasses import replace

    from storyline import sandbox

    played = sandbox.overrides(local_url)
    console.print(
        f"sandbox:  {local_url}{sandbox.PREFIX}/ answers as {', '.join(sorted(h for h in played if h not in settings.egress_overrides))}"
    )
    console.print(f"  bot messages: {local_url}{sandbox.PREFIX}/messages")
    return replace(settings, sandbox=True, egress_overrides={**played, **settings.egress_overrides})


def _env_public_url() -> bool:
    import os

    return bool(os.environ.get("STORYLINE_PUBLIC_URL"))


def _print_urls(engine: Any, settings: Settings) -> None:
    from storyline.store.stories import list_stories

    with engine.connect() as conn:
        stories = list_stories(conn)
    console.print(f"storyline on [bold]{settings.public_url}[/bold]  (database {settings.database_url})")
    console.print(f"  health:   {settings.public_url}/healthz")
    _print_webhooks(stories, settings.public_url)


def _print_webhooks(stories: list[dict[str, Any]], public_url: str) -> None:
    for story in stories:
        for hook in story["webhooks"]:
            url = webhook_url(public_url, hook["path"], hook["secret"])
            console.print(f"  webhook:  {url}   [dim]({story['name']} / {hook['name']})[/dim]")


@app.command()
def worker(
    db: DbOption = None,
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once")] = None,
) -> None:
    """Run a worker only (scale out on PostgreSQL: start as many as you like)."""
    from storyline.engine.service import Service

    settings = _settings(db)

    async def main() -> None:
        service = Service(settings, worker=True, concurrency=concurrency)
        await service.start()
        err.print(f"worker {service.worker.name if service.worker else ''} running on {settings.database_url}")
        try:
            await asyncio.Event().wait()
        finally:
            await service.stop()

    logging.basicConfig(level=logging.WARNING)
    _check_key(_engine(settings), settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema."""
    from storyline.store.db import current_revision

    settings = _settings(db)
    engine = _engine(settings)
    console.print(f"database at revision {current_revision(engine)}: {settings.database_url}")


@story_app.command("import")
def story_import(
    files: Annotated[list[Path], typer.Argument(help="Tines export JSON files")],
    db: DbOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a story with the same guid")] = False,
    as_new: Annotated[
        bool, typer.Option("--as-new", help="Import a copy with new guids (and new webhook paths where taken)")
    ] = False,
) -> None:
    """Import Tines story exports, each in one transaction."""
    from storyline.store.stories import names_and_webhook_paths, save_story
    from storyline.tines.copies import copy_as_new
    from storyline.tines.importer import StoryFormatError, load_file

    if replace and as_new:
        raise _fail("--replace and --as-new exclude each other: update the story, or import a copy")
    engine = _engine(_settings(db))
    failed = 0
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("importing", total=len(files))
        for path in files:
            try:
                story, warnings = load_file(path)
                with engine.begin() as conn:
                    if as_new:
                        names, paths = names_and_webhook_paths(conn)
                        story, copied = copy_as_new(story, taken_names=names, taken_paths=paths)
                        warnings = [*warnings, *copied]
                    save_story(conn, story, replace=replace, now=time.time())
            except (StoryFormatError, OSError, ValueError) as exc:
                failed += 1
                err.print(f"[red]error:[/red] {path}: {exc}")
            else:
                for warning in warnings:
                    err.print(f"[yellow]warning:[/yellow] {path}: {warning}")
                console.print(f"imported [bold]{story.name}[/bold] ({len(story.actions)} actions) from {path}")
            progress.advance(task)
    if failed:
        raise typer.Exit(1)


@story_app.command("list")
def story_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List stories and their webhook URLs."""
    from storyline.store.stories import list_stories

    engine = _engine(_settings(db))
    with engine.connect() as conn:
        stories = list_stories(conn)
    if as_json:
        _print_json(stories)
        return
    table = Table("story", "actions", "webhooks")
    for story in stories:
        table.add_row(story["name"], str(story["actions"]), "\n".join(h["url"] for h in story["webhooks"]))
    console.print(table)


@story_app.command("show")
def story_show(name: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show a story's actions, their keys, and webhook URLs (on $STORYLINE_PUBLIC_URL, as `serve` prints them)."""
    from storyline.store.stories import StoryNotFoundError, load_story

    settings = _settings(db)
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            story = load_story(conn, name)
    except StoryNotFoundError as exc:
        raise _fail(str(exc)) from None
    actions = []
    for action in story.actions:
        item: dict[str, Any] = {"name": action.name, "key": action.key, "type": action.type, "guid": action.guid}
        if action.webhook_path is not None:
            item["webhook_url"] = webhook_url(settings.public_url, action.webhook_path, action.webhook_secret)
        actions.append(item)
    shown = {"name": story.name, "guid": story.guid, "actions": actions}
    if as_json:
        _print_json(shown)
        return
    console.print(f"[bold]{story.name}[/bold]  guid {story.guid}")
    table = Table("action", "key", "type")
    for item in actions:
        table.add_row(item["name"], item["key"], item["type"].removeprefix("Agents::"))
    console.print(table)
    # Below the table, whole on one line each: a URL cut to the column's width cannot be copied.
    for item in actions:
        if "webhook_url" in item:
            console.print(f"webhook:  {item['webhook_url']}   [dim]({escape(item['name'])})[/dim]", highlight=False)


@story_app.command("export")
def story_export(
    name: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")] = None,
    db: DbOption = None,
) -> None:
    """Export a story as Tines JSON."""
    from storyline.store.stories import StoryNotFoundError, load_story
    from storyline.tines.exporter import export_story

    engine = _engine(_settings(db))
    try:
        with engine.connect() as conn:
            story = load_story(conn, name)
    except StoryNotFoundError as exc:
        raise _fail(str(exc)) from None
    text = orjson.dumps(export_story(story), option=orjson.OPT_INDENT_2).decode() + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err.print(f"wrote {output}")


@app.command("run")
def run_story(
    story: Annotated[str, typer.Argument(help="A Tines export file, or the name of an imported story")],
    input: Annotated[str, typer.Option("--input", help="JSON the entry webhook receives")] = "{}",
    db: DbOption = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds")] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Run one story to completion in-process and print its events."""
    from storyline.engine.oneshot import OneShotError, run_once

    try:
        body = jsondata.loads(input)
    except jsondata.JsonError as exc:
        raise _fail(f"--input is {exc}") from None
    from storyline.credentials.keys import SecretKeyError

    try:
        events = asyncio.run(run_once(story, body, _settings(db), timeout=timeout))
    except (OneShotError, SecretKeyError) as exc:
        raise _fail(str(exc)) from None
    _show_events(events, as_json)


def _show_events(events: list[dict[str, Any]], as_json: bool) -> None:
    """JSON carries whole events; the table shows what each action itself emitted."""
    if as_json:
        _print_json([{k: v for k, v in event.items() if k != "output"} for event in events])
        return
    table = Table("id", "time", "action", "run", "output")
    for event in events:
        text = jsondata.dumps(event["output"])
        table.add_row(
            str(event["id"]), event["created_at"][11:23], event["action"], event["story_run"][:8],
            text if len(text) < 200 else text[:197] + "...",
        )
    console.print(table)


@app.command()
def events(
    story: Annotated[str | None, typer.Option("--story", help="Story name")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Action name or key")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Story run GUID (or its start)")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events")] = 100,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List events, newest last."""
    from storyline.store.queries import list_events

    engine = _engine(_settings(db))
    with engine.connect() as conn:
        rows = list_events(conn, story=story, action=action, run=run, limit=limit)
    _show_events(rows, as_json)


@app.command()
def runs(
    story: Annotated[str | None, typer.Option("--story", help="Story name")] = None,
    limit: Annotated[int, typer.Option(help="Newest N runs")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List story runs with their status."""
    from storyline.store.queries import list_runs

    engine = _engine(_settings(db))
    with engine.connect() as conn:
        rows = list_runs(conn, story=story, limit=limit)
    if as_json:
        _print_json(rows)
        return
    table = Table("run", "story", "started", "events", "pending", "failed", "status")
    for row in rows:
        table.add_row(row["guid"], row["story"], row["started_at"], str(row["events"]), str(row["pending"]),
                      str(row["failed"]), row["status"])
    console.print(table)


@app.command()
def logs(
    story: Annotated[str | None, typer.Option("--story", help="Story name")] = None,
    level: Annotated[str | None, typer.Option(help="info, warning or error")] = None,
    limit: Annotated[int, typer.Option(help="Newest N lines")] = 100,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Action logs: retries, failures with their errors."""
    from storyline.store.queries import list_logs

    engine = _engine(_settings(db))
    with engine.connect() as conn:
        rows = list_logs(conn, story=story, level=level, limit=limit)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        colour = {"error": "red", "warning": "yellow"}.get(row["level"], "dim")
        console.print(f"{row['created_at']} [{colour}]{row['level']:7}[/{colour}] {row['story']} / {row['action']}: "
                      f"{row['message']}", markup=True, highlight=False)


@credential_app.command("set")
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

    from storyline.credentials import model as creds
    from storyline.credentials.cipher import Cipher
    from storyline.credentials.keys import SecretKeyError
    from storyline.credentials.stored import save_credential

    kinds = [flag for flag, given in (("--value", value is not None), ("--env", env is not None),
                                      ("--oauth2-client-credentials", oauth2), ("--http-request", http_request))
             if given]
    if len(kinds) != 1:
        raise _fail("give exactly one of --value, --env, --oauth2-client-credentials or --http-request"
                    + (f" (got {', '.join(kinds)})" if kinds else ""))
    try:
        if env is not None:
            if env not in os.environ:
                raise _fail(f"--env {env}: that environment variable is not set")
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
                raise _fail(f"--http-request is not valid JSON: {exc}") from None
            credential = creds.http_request(name, options=options, token_path=token_path or "", ttl=ttl,
                                            allowed_hosts=allowed_host)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings = _settings(db)
    engine = _engine(settings)
    try:
        cipher = Cipher.for_database(settings.database_url)
        with engine.begin() as conn:
            save_credential(conn, cipher, credential, time.time())
    except SecretKeyError as exc:
        raise _fail(str(exc)) from None
    console.print(f"credential [bold]{name}[/bold] ({credential.kind}) saved")


@credential_app.command("list")
def credential_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Credential names and kinds; never their values."""
    from storyline.credentials.stored import list_credentials

    with _engine(_settings(db)).connect() as conn:
        rows = list_credentials(conn)
    if as_json:
        _print_json(rows)
        return
    table = Table("credential", "kind", "allowed hosts")
    for row in rows:
        table.add_row(row["name"], row["kind"], ", ".join(row["allowed_hosts"]) or "any")
    console.print(table)


@credential_app.command("delete")
def credential_delete(name: str, db: DbOption = None) -> None:
    """Delete a credential; stories that use it fail with "credential 'NAME' is not defined"."""
    from storyline.credentials.stored import delete_credential

    _delete("credential", delete_credential, name, db)


@resource_app.command("set")
def resource_set(
    name: Annotated[str, typer.Argument(help="Name templates use: RESOURCE.<name>")],
    value: Annotated[str, typer.Argument(help="The value (text, or JSON with --json)")],
    as_json: Annotated[bool, typer.Option("--json", help="VALUE is JSON (an object, array, number ...)")] = False,
    db: DbOption = None,
) -> None:
    """Create or replace a resource."""
    from storyline.store.resources import save_resource

    parsed: Any = value
    if as_json:
        try:
            parsed = jsondata.loads(value)
        except jsondata.JsonError as exc:
            raise _fail(f"VALUE is {exc}") from None
    try:
        with _engine(_settings(db)).begin() as conn:
            save_resource(conn, name, parsed, time.time())
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(f"resource [bold]{name}[/bold] saved")


@resource_app.command("list")
def resource_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Resources and their values."""
    from storyline.store.resources import list_resources

    with _engine(_settings(db)).connect() as conn:
        rows = list_resources(conn)
    if as_json:
        _print_json(rows)
        return
    table = Table("resource", "value")
    for row in rows:
        text = row["value"] if isinstance(row["value"], str) else orjson.dumps(row["value"]).decode()
        table.add_row(row["name"], text if len(text) < 200 else text[:197] + "...")
    console.print(table)


@resource_app.command("delete")
def resource_delete(name: str, db: DbOption = None) -> None:
    """Delete a resource."""
    from storyline.store.resources import delete_resource

    _delete("resource", delete_resource, name, db)


def _delete(kind: str, delete: Callable[[Connection, str], bool], name: str, db: str | None) -> None:
    with _engine(_settings(db)).begin() as conn:
        if not delete(conn, name):
            raise _fail(f"no {kind} named {name!r}; `storyline {kind} list` shows them")
    console.print(f"{kind} [bold]{name}[/bold] deleted")


@tines_app.command("check")
def tines_check(
    files: Annotated[list[Path], typer.Argument(help="Tines export JSON files")],
    as_json: JsonOption = False,
) -> None:
    """List each action, option, tag, filter or function storyline would not run as Tines does.

    Exits 0 when nothing is unsupported, 1 otherwise. Reads the files only: no database.
    """
    from storyline.tines.check import as_json as report_json
    from storyline.tines.check import check_paths, supported_share

    reports = check_paths(list(files))
    supported, total = supported_share(reports)
    if as_json:
        _print_json(report_json(reports))
    else:
        table = Table("story", "schema", "actions", "unsupported")
        for report in reports:
            schema = "" if report.schema_version is None else str(report.schema_version)
            flagged = str(len(report.unsupported)) if report.unsupported else "[green]0[/green]"
            table.add_row(report.name or report.file, schema, str(report.actions), flagged)
        console.print(table)
        share = f"{100 * supported / total:.1f}%" if total else "n/a"
        for report in reports:
            for item in report.unsupported:
                where = f"{report.name or report.file} / {item.action}" if item.action else report.file
                console.print(f"[bold]{escape(where)}[/bold]: [red]{escape(item.what)}[/red]: {escape(item.reason)}")
        console.print(f"{supported} of {total} actions ({share}) in {len(reports)} stories run as in Tines")
    if any(report.unsupported for report in reports):
        raise typer.Exit(1)


@template_app.command("list")
def template_list(as_json: JsonOption = False) -> None:
    """Template names and what each does."""
    from storyline.chat.templates import TEMPLATES

    if as_json:
        _print_json({name: t["description"] for name, t in TEMPLATES.items()})
        return
    table = Table("template", "description", box=None)
    for name, template in sorted(TEMPLATES.items()):
        table.add_row(name, template["description"])
    console.print(table)


@template_app.command("show")
def template_show(name: str) -> None:
    """The action as Tines JSON, to paste into a story's agents."""
    from storyline.chat.templates import TEMPLATES

    if name not in TEMPLATES:
        raise _fail(f"no template {name!r}; `storyline template list` shows them")
    _print_json(TEMPLATES[name]["action"])



def _teams_webhook(settings: Settings) -> tuple[str, str | None, str]:
    """The database's one Teams-verified webhook: its path, its secret and its rendered app id."""
    from storyline.engine.catalog import load_catalog
    from storyline.engine.runtime import RunScope
    from storyline.store.resources import load_resources
    from storyline.templating import TemplateError, render_text

    engine = _engine(settings)
    with engine.connect() as conn:
        catalog, resources = load_catalog(conn), load_resources(conn)
    engine.dispose()
    found = [(path, a) for path, a in catalog.webhooks.items()
             if isinstance(a.options.get("verification"), dict) and a.options["verification"].get("type") == "teams"]
    if len(found) != 1:
        names = ", ".join(f"{a.story_name} / {a.name}" for _, a in found) or "none"
        raise _fail(f"give --webhook PATH/SECRET and --app-id: the database has {len(found)} Teams webhooks ({names})")
    [(path, action)] = found
    try:
        app_id = render_text(str(action.options["verification"].get("app_id", "")), {},
                             RunScope("", action, {}, resources, settings.public_url))
    except TemplateError as exc:
        raise _fail(f"webhook '{action.name}': verification.app_id: {exc}; give --app-id") from None
    return path, action.options.get("secret") or None, app_id


@chat_app.command("teams")
def chat_teams(
    text: Annotated[str, typer.Argument(help="What you say to the bot, e.g. \"analyzedomain example.com\"")] = "",
    url: Annotated[str | None, typer.Option("--url", help="The storyline server (default: $STORYLINE_PUBLIC_URL)")] = None,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="PATH/SECRET of the Teams webhook (default: the only one in the database)")] = None,
    app_id: Annotated[str | None, typer.Option(
        "--app-id", envvar="STORYLINE_TEAMS_APP_ID", help="The bot's app id (default: the webhook's)")] = None,
    value: Annotated[str | None, typer.Option("--value", help="Click a card button: its Action.Submit data as JSON")] = None,
    user: Annotated[str, typer.Option("--user", help="Your display name")] = "Console User",
    port: Annotated[int, typer.Option("--port", help="Port of the local Bot Connector the server reaches")] = 3979,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the first reply")] = 15.0,
    key_file: Annotated[Path | None, typer.Option("--key-file", help="The console's signing key (created if missing)")] = None,
    db: DbOption = None,
) -> None:
    """Send a signed Teams message to the local server as the Bot Connector would, and print the bot's replies.

    The console stands in for Microsoft on 127.0.0.1:PORT (keys, bot tokens, the connector the
    replies go to); start the server with STORYLINE_EGRESS_OVERRIDES=login.botframework.com=
    http://127.0.0.1:3979,login.microsoftonline.com=http://127.0.0.1:3979,smba.trafficmanager.net=
    http://127.0.0.1:3979 (see the README, "Trying a Teams bot locally").
    """
    import os

    from storyline.chat import teams_console as teams

    settings = _settings(db)
    secret: str | None
    if webhook is None or app_id is None:
        path, secret, found_app_id = _teams_webhook(settings)
        app_id = app_id or found_app_id
    if webhook is not None:
        path, _, secret = webhook.strip("/").removeprefix("webhook/").partition("/")
    if webhook is not None and webhook.startswith(("http://", "https://")):
        target = webhook
    else:
        target = webhook_url(url or settings.public_url, path, secret)
    try:
        clicked = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError as exc:
        raise _fail(f"--value is not JSON: {exc}") from None
    if not text and clicked is None:
        raise _fail("say something (TEXT) or click a button (--value JSON)")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = teams.ConnectorKey.load_or_create(key_file or cache / "storyline" / "teams-console-key.pem")
    status = asyncio.run(teams.chat(target, text, app_id, key, port=port, value=clicked, user=user, wait=wait,
                                    out=lambda line: console.print(line, markup=False, highlight=False, emoji=False)))
    raise typer.Exit(status)



@chat_app.command("slack")
def chat_slack(
    text: Annotated[str, typer.Argument(help='What the user types: "/analyzedomain example.com", or a mention')],
    url: Annotated[str, typer.Option("--url", help="The running storyline server")] = "http://127.0.0.1:8000",
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="Webhook path, action or story name (default: the only webhook verifying Slack)")] = None,
    signing_secret: Annotated[str | None, typer.Option(
        "--signing-secret", help="Sign with this (default: the credential the webhook's verification names)")] = None,
    sink: Annotated[str, typer.Option(
        "--sink", help="host:port the console serves for slack.com and hooks.slack.com answers")] = "127.0.0.1:8765",
    user: Annotated[str, typer.Option("--user", help="Who types it")] = "console-user",
    wait: Annotated[float, typer.Option("--wait", help="Stop after this many seconds without an answer")] = 10.0,
    db: DbOption = None,
) -> None:
    """Send TEXT signed as Slack would to the story's webhook and print the bot's answers as they arrive."""
    from storyline.chat import slack_console as chat
    from storyline.credentials.cipher import Cipher
    from storyline.credentials.keys import SecretKeyError
    from storyline.credentials.stored import load_credentials

    settings = _settings(db)
    with _engine(settings).connect() as conn:
        try:
            hook = chat.choose(chat.slack_hooks(conn), webhook)
        except chat.ConsoleError as exc:
            raise _fail(str(exc)) from None
        if signing_secret is None:
            name = chat.credential_name(hook.signing_secret)
            if name is None:
                option = hook.signing_secret
                signing_secret = str(option[0] if isinstance(option, list) else option)
            else:
                try:
                    stored = load_credentials(conn, Cipher.for_database(settings.database_url)).get(name)
                except SecretKeyError as exc:
                    raise _fail(str(exc)) from None
                if stored is None or "value" not in stored.secret:
                    raise _fail(f"webhook '{hook.name}' verifies with credential '{name}', which is not set: "
                                f"`storyline credential set {name} --value ...` or pass --signing-secret")
                signing_secret = str(stored.secret["value"])
    content_type, body = chat.request(text, user)
    err.print(f"[dim]{user} -> {hook.story} / {hook.name}: {text}[/dim]")
    try:
        count = asyncio.run(chat.converse(hook.url(url), content_type, body, signing_secret, sink, wait,
                                          lambda line: console.print(line, markup=False, highlight=False, emoji=False)))
    except chat.ConsoleError as exc:
        raise _fail(str(exc)) from None
    if count == 0:
        err.print(f"[dim]no later answer within {wait:g}s. Replies reach this console when the server runs with "
                  f"STORYLINE_EGRESS_OVERRIDES=slack.com=http://{sink},hooks.slack.com=http://{sink}[/dim]")


@pack_app.command("list")
def pack_list(as_json: JsonOption = False) -> None:
    """List the story packs and the credentials their stories use."""
    from storyline.packs import PACKS

    rows = [{"name": p.name, "description": p.description, "stories": [f.name for f in p.files],
             "credentials": list(p.credentials), "resources": p.resources} for p in PACKS.values()]
    if as_json:
        _print_json(rows)
        return
    table = Table("pack", "stories", "description")
    for row in rows:
        table.add_row(row["name"], str(len(row["stories"])), row["description"])
    console.print(table)


@pack_app.command("install")
def pack_install(
    name: Annotated[str, typer.Argument(help="The pack, as `storyline pack list` names it")],
    db: DbOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Update the pack's stories already installed")] = False,
) -> None:
    """Import a pack's stories and the tuning resources it needs (existing resources are kept)."""
    from storyline import packs
    from storyline.store.stories import list_stories

    settings = _settings(db)
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            done = packs.install(conn, name, replace=replace)
            ours = [s for s in list_stories(conn) if s["name"] in {*done.stories, *done.skipped}]
    except ValueError as exc:
        raise _fail(str(exc)) from None
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
    _print_webhooks(ours, settings.public_url)


@key_app.command("generate")
def key_generate() -> None:
    """Print a new random key for STORYLINE_SECRET_KEY (base64 of 32 bytes); nothing is stored."""
    from storyline.credentials.keys import new_key

    sys.stdout.write(new_key() + "\n")
    err.print("set it for every storyline process that shares the database, e.g. "
              "export STORYLINE_SECRET_KEY=\"$(storyline key generate)\" (or, for a SQLite database, write it to "
              "the key file <database>.key, mode 0600), and keep a copy: credentials saved under a key cannot be "
              "read without it", markup=False, highlight=False)


if __name__ == "__main__":
    app()


"""``storyline serve`` and ``storyline worker``: the long-running processes."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Annotated, Any

import typer

from storyline.cli.common import (
    DbOption,
    check_key,
    console,
    err,
    fail,
    load_settings,
    open_engine,
    print_webhooks,
)
from storyline.config import Settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    db: DbOption = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the bundled demo stories; answer as VirusTotal, URLhaus, RDAP, Slack, Teams")
    ] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve webhooks only; run workers apart")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=0, envvar="STORYLINE_WORKERS", show_default="one per CPU core but the web server's",
        help="Worker processes to run beside the web server; 0 runs the worker in the web server's process")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No line per request or finished run (failed runs and warnings still show)")] = False,
) -> None:
    """Serve webhooks, and run their stories in worker processes (with the scheduler) beside it."""
    from storyline.web import server
    from storyline.web.app import create_app

    local = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
    _check_port(host, port, local)
    if demo:
        console.print(f"playground: [bold]{local}/playground[/bold]  (chat with the demo bots as Slack or Teams)")
    public = None if _env_public_url() else local
    settings = load_settings(db, public_url=public)
    if demo:
        settings = _with_sandbox(settings, local)
    engine = open_engine(settings)
    check_key(engine, settings)
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
    _print_sign_in(engine, settings, demo=demo)
    engine.dispose()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not quiet:
        for name in ("storyline.access", "storyline.runs"):
            logging.getLogger(name).setLevel(logging.INFO)
    if not _loopback(host):
        sandbox_note = (", the demo sandbox (/_sandbox/, --demo) and its chat playground (/playground)"
                        if settings.sandbox else "")
        logging.getLogger("storyline.serve").warning(
            "listening on %s:%d, reachable beyond this machine. Reachable: the webhooks (/webhook/..., each "
            "behind its secret unless its story sets none), prompt links (/prompt, each signed for one "
            "answer)%s, /healthz, the sign-in page (/login) and the REST API (/api/v1, each call behind a "
            "token or a sign-in, throttled against password guessing); /static/ holds the console's CSS and JS. "
            "Not reachable without a sign-in: stories, webhook URLs, credentials, events, the console's pages. "
            "Put a TLS proxy in front: README, \"Serving on a network\".",
            host, port, sandbox_note)
    count = 0 if no_worker else (default_workers() if workers is None else workers)
    console.print("  workers:  " + ("none here (--no-worker): run `storyline worker` beside it" if no_worker else
                                    f"{count} worker process{'es' if count != 1 else ''} (--workers)" if count else
                                    "in this process (--workers 0)"))
    app = create_app(settings, worker=not no_worker, workers=count)
    web = server.Server(server.config(app, settings, host=host, port=port), stopping=app.state.service.draining)
    with contextlib.suppress(KeyboardInterrupt):
        web.run()
    if not web.started:
        raise typer.Exit(3)  # uvicorn said why (the port in use, the database...)


def default_workers() -> int:
    """One worker process per CPU core this process may run on, but one: the web process's, busy with acks.

    Measured on 2 cores (bench/README.md): a second worker process made three busy processes on two
    cores, and acks waited longer for SQLite's write lock and for a CPU (p99 355 against 283 ms, 290
    against 408 acks/s), for 90 MB more.
    """
    import os

    return max(1, len(os.sched_getaffinity(0)) - 1)


def _check_port(host: str, port: int, local: str) -> None:
    """Say at once, before any banner, that the port is taken: a second `make run` is the usual cause."""
    import errno
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            return  # uvicorn says what else is wrong with the address
        raise fail(f"{host}:{port} is already in use: another storyline server is probably running there "
                   f"({local}/healthz answers if so); stop it, or serve on another port with --port {port + 1}",
                   code=3) from None


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
        f"sandbox:  this server answers as {', '.join(sorted(h for h in played if h not in settings.egress_overrides))}"
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
    for host in settings.tines_tenant_hosts:
        console.print(f"  stories calling https://{host}/api/v1/... reach {settings.public_url}/api/v1/...")
    print_webhooks(stories, settings.public_url)


def _print_sign_in(engine: Any, settings: Settings, *, demo: bool) -> None:
    """How to sign in: the demo admin's password (made now, shown once), or the first admin's setup link."""
    from storyline.accounts import setup
    from storyline.credentials.keys import BROWSER_KEY, derive, load_key

    with engine.begin() as conn:
        password = setup.demo_admin(conn) if demo else None
        needed = setup.needed(conn)
    if password is not None:
        console.print(f"  sign in:  {settings.public_url}/login  as [bold]{setup.DEMO_EMAIL}[/bold], "
                      f"password [bold]{password}[/bold]  (shown this once; `storyline user set-password` changes it)")
    elif needed:
        link = setup.link(settings.public_url, derive(load_key(settings.database_url), BROWSER_KEY))
        console.print(f"  no user yet: create the first admin at [bold]{link}[/bold]\n"
                      f"            (expires in an hour; or `storyline user add EMAIL --role admin`)")
    else:
        console.print(f"  sign in:  {settings.public_url}/login")


def worker(
    db: DbOption = None,
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once")] = None,
) -> None:
    """Run a worker only (scale out on PostgreSQL: start as many as you like).

    SIGTERM or Ctrl-C: it stops claiming jobs and finishes the ones it holds; a second one stops it at once.
    """
    from storyline.engine import worker_process

    settings = load_settings(db)
    logging.basicConfig(level=logging.WARNING, format=worker_process.LOG_FORMAT)
    check_key(open_engine(settings), settings)
    worker_process.run(settings, concurrency=concurrency, started=lambda service: err.print(
        f"worker {service.worker.name if service.worker else ''} running on {settings.database_url}"))

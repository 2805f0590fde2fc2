"""``storyline chat``: talk to a bot locally, as Slack or Teams would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer

from storyline.cli.common import DbOption, console, err, fail, load_settings, open_engine
from storyline.config import Settings
from storyline.urls import webhook_url

app = typer.Typer(no_args_is_help=True, help="Talk to your bot locally, as Slack or Teams would.")


def _teams_webhook(settings: Settings) -> tuple[str, str | None, str]:
    """The database's one Teams-verified webhook: its path, its secret and its rendered app id."""
    from storyline.engine.catalog import load_catalog
    from storyline.engine.runtime import RunScope
    from storyline.store.resources import load_resources
    from storyline.templating import TemplateError, render_text

    engine = open_engine(settings)
    with engine.connect() as conn:
        catalog, resources = load_catalog(conn), load_resources(conn)
    engine.dispose()
    found = [(path, a) for path, a in catalog.webhooks.items()
             if isinstance(a.options.get("verification"), dict) and a.options["verification"].get("type") == "teams"]
    if len(found) != 1:
        names = ", ".join(f"{a.story_name} / {a.name}" for _, a in found) or "none"
        raise fail(f"give --webhook PATH/SECRET and --app-id: the database has {len(found)} Teams webhooks ({names})")
    [(path, action)] = found
    try:
        app_id = render_text(str(action.options["verification"].get("app_id", "")), {},
                             RunScope("", action, {}, resources, settings.public_url), formulas=action.formulas)
    except TemplateError as exc:
        raise fail(f"webhook '{action.name}': verification.app_id: {exc}; give --app-id") from None
    return path, action.options.get("secret") or None, app_id


@app.command("teams")
def chat_teams(
    text: Annotated[str, typer.Argument(help="What you say to the bot, e.g. \"analyzedomain example.com\"")] = "",
    url: Annotated[str | None, typer.Option("--url", help="The storyline server (default: $STORYLINE_PUBLIC_URL)")] = None,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="PATH/SECRET of the Teams webhook (default: the only one in the database)")] = None,
    app_id: Annotated[str | None, typer.Option(
        "--app-id", envvar="STORYLINE_TEAMS_APP_ID", help="The bot's app id (default: the webhook's)")] = None,
    value: Annotated[str | None, typer.Option(
        "--value", help="Click a card button: its Action.Submit data as JSON (the console prints it)")] = None,
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

    from storyline.chat import teams_console as teams
    from storyline.standins.botframework import ConnectorKey, console_key_path

    settings = load_settings(db)
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
        raise fail(f"--value is not JSON: {exc}") from None
    if not text and clicked is None:
        raise fail("say something (TEXT) or click a button (--value JSON)")
    key = ConnectorKey.load_or_create(key_file or console_key_path())
    status = asyncio.run(teams.chat(target, text, app_id, key, port=port, value=clicked, user=user, wait=wait,
                                    out=lambda line: console.print(line, markup=False, highlight=False, emoji=False)))
    raise typer.Exit(status)


@app.command("slack")
def chat_slack(
    text: Annotated[str, typer.Argument(help='What the user types: "/analyzedomain example.com", or a mention')] = "",
    url: Annotated[str, typer.Option("--url", help="The running storyline server")] = "http://127.0.0.1:8000",
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="Webhook path, action or story name (default: the only webhook verifying Slack)")] = None,
    signing_secret: Annotated[str | None, typer.Option(
        "--signing-secret", help="Sign with this (default: the credential the webhook's verification names)")] = None,
    sink: Annotated[str, typer.Option(
        "--sink", help="host:port the console serves for slack.com and hooks.slack.com answers")] = "127.0.0.1:8765",
    click: Annotated[str | None, typer.Option(
        "--click", help="Click a button of the bot's message: its action_id (the console prints it)")] = None,
    value: Annotated[str | None, typer.Option("--value", help="The clicked button's value (with --click)")] = None,
    user: Annotated[str, typer.Option("--user", help="Who types it")] = "console-user",
    wait: Annotated[float, typer.Option("--wait", help="Stop after this many seconds without an answer")] = 10.0,
    db: DbOption = None,
) -> None:
    """Send TEXT signed as Slack would to the story's webhook and print the bot's answers as they arrive."""
    from storyline.chat import slack_console as chat
    from storyline.chat.buttons import slack_flagged
    from storyline.credentials.cipher import Cipher
    from storyline.credentials.keys import SecretKeyError
    from storyline.credentials.stored import load_credentials

    settings = load_settings(db)
    with open_engine(settings).connect() as conn:
        try:
            hook = chat.choose(chat.slack_hooks(conn), webhook)
        except chat.ConsoleError as exc:
            raise fail(str(exc)) from None
        if signing_secret is None:
            name = chat.credential_name(hook.signing_secret)
            if name is None:
                option = hook.signing_secret
                signing_secret = str(option[0] if isinstance(option, list) else option)
            else:
                try:
                    stored = load_credentials(conn, Cipher.for_database(settings.database_url)).get(name)
                except SecretKeyError as exc:
                    raise fail(str(exc)) from None
                if stored is None or "value" not in stored.secret:
                    raise fail(f"webhook '{hook.name}' verifies with credential '{name}', which is not set: "
                                f"`storyline credential set {name} --value ...` or pass --signing-secret")
                signing_secret = str(stored.secret["value"])
    if click is not None:
        content_type, body = chat.click(slack_flagged(click, value), user)
        said = f"clicked {click}" + (f" ({value})" if value is not None else "")
    elif text:
        content_type, body = chat.request(text, user)
        said = text
    else:
        raise fail("say something (TEXT) or click a button (--click ACTION_ID [--value VALUE])")
    err.print(f"[dim]{user} -> {hook.story} / {hook.name}: {said}[/dim]")
    engine, sent = open_engine(settings), time.time() - 1

    async def working() -> bool:
        from storyline.store.queries import story_working_since

        def count() -> int:
            with engine.connect() as conn:
                return story_working_since(conn, hook.story, sent, time.time() + 5)

        return await asyncio.to_thread(count) > 0

    try:
        count = asyncio.run(chat.converse(
            hook.url(url), content_type, body, signing_secret, sink, wait,
            lambda line: console.print(line, markup=False, highlight=False, emoji=False), working=working,
            note=lambda line: err.print(f"[dim]{line}[/dim]")))
    except chat.ConsoleError as exc:
        raise fail(str(exc)) from None
    engine.dispose()
    if count == 0:
        err.print(f"[dim]no later answer within {wait:g}s: `storyline logs --story \"{hook.story}\"` says what the "
                  "story did. (Against a server other than `serve --demo`, replies reach this console when it runs "
                  f"with STORYLINE_EGRESS_OVERRIDES=slack.com=http://{sink},hooks.slack.com=http://{sink})[/dim]")

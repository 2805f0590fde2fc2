"""The storyline command line (see DESIGN.md, "Command-line contract"): one module per command group.

``storyline = "storyline.cli:app"``; the order commands are added here is the order ``--help`` lists them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from storyline.cli import (
    audit,
    chat,
    credential,
    db,
    key,
    pack,
    resource,
    runs,
    serve,
    story,
    template,
    tines,
    token,
    user,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Run Tines-format stories, durably.")


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"storyline {version('storyline')}")
        raise typer.Exit()


@app.callback()
def main(
    _version_flag: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print storyline's version and exit")] = False,
) -> None:
    """Run Tines-format stories, durably."""

app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("run")(runs.run_story)
app.command("events")(runs.events)
app.command("runs")(runs.runs)
app.command("logs")(runs.logs)
app.add_typer(story.app, name="story")
app.add_typer(db.app, name="db")
app.add_typer(credential.app, name="credential")
app.add_typer(resource.app, name="resource")
app.add_typer(tines.app, name="tines")
app.add_typer(template.app, name="template")
app.add_typer(chat.app, name="chat")
app.add_typer(pack.app, name="pack")
app.add_typer(key.app, name="key")
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.command("audit")(audit.audit)

"""``storyline template``: ready-made chat actions to paste into a story."""

from __future__ import annotations

import typer
from rich.table import Table

from storyline.cli.common import JsonOption, console, fail, print_json

app = typer.Typer(no_args_is_help=True, help="Ready-made chat actions to paste into a story.")


@app.command("list")
def template_list(as_json: JsonOption = False) -> None:
    """Template names and what each does."""
    from storyline.chat.templates import TEMPLATES

    if as_json:
        print_json({name: t["description"] for name, t in TEMPLATES.items()})
        return
    table = Table("template", "description", box=None)
    for name, template in sorted(TEMPLATES.items()):
        table.add_row(name, template["description"])
    console.print(table)


@app.command("show")
def template_show(name: str) -> None:
    """The action as Tines JSON, to paste into a story's agents."""
    from storyline.chat.templates import TEMPLATES

    if name not in TEMPLATES:
        raise fail(f"no template {name!r}; `storyline template list` shows them")
    print_json(TEMPLATES[name]["action"])

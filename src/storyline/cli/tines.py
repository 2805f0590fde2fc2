"""``storyline tines check``: what of a Tines export storyline would not run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from storyline.cli.common import JsonOption, console, fail, print_json

app = typer.Typer(no_args_is_help=True, help="Tines compatibility: what of an export storyline would not run.")


@app.command("check")
def tines_check(
    files: Annotated[list[Path], typer.Argument(help="Tines export JSON files")],
    as_json: JsonOption = False,
) -> None:
    """List each action, option, tag, filter or function storyline would not run as Tines does.

    Exits 0 when nothing is unsupported, 1 otherwise, 2 when a file cannot be read. Reads the files only:
    no database.
    """
    from storyline.tines.check import as_json as report_json
    from storyline.tines.check import check_paths, supported_share

    unreadable = [f"{path}: {_unreadable(path)}" for path in files if _unreadable(path)]
    if unreadable:
        raise fail("cannot read " + "; ".join(unreadable), code=2)
    reports = check_paths(list(files))
    supported, total = supported_share(reports)
    if as_json:
        print_json(report_json(reports))
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


def _unreadable(path: Path) -> str | None:
    """Why a file cannot be checked at all (a missing file is not an unsupported story)."""
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    try:
        with path.open("rb"):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)

"""What a `storyline` command loads before it does anything: only what it needs.

Every command is a fresh Python process, so its imports are its latency. Alembic (and reading
every migration) is for a database behind the newest migration, an HTTP client for commands that
send requests, the templating engine for commands that render; `--help` needs no database.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from storyline.store.db import HEAD, alembic_config, make_engine, upgrade

PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("LOADED " + " ".join(sorted(sys.modules)) + "\\n"))
sys.argv = ["storyline", *sys.argv[1:]]
from storyline.cli import app
app()
"""


def loaded_by(*args: str, database: str) -> set[str]:
    """The top-level packages (and storyline modules) a command had loaded when it exited."""
    run = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "STORYLINE_DATABASE_URL": database})
    assert run.returncode == 0, run.stderr
    [line] = [line for line in run.stderr.splitlines() if line.startswith("LOADED ")]
    modules = line.split()[1:]
    return {name.split(".")[0] for name in modules} | {name for name in modules if name.startswith("storyline.")}


def test_the_newest_migration_is_the_one_alembic_would_apply() -> None:
    engine = make_engine("sqlite://")
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == HEAD


def test_a_command_on_a_current_database_loads_neither_alembic_nor_an_http_client_nor_templating(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path}/current.db"
    upgrade(make_engine(database))
    loaded = loaded_by("credential", "list", database=database)
    assert "sqlalchemy" in loaded and "storyline.credentials.stored" in loaded  # the probe saw the command run
    assert not {"alembic", "httpx", "liquid"} & loaded
    assert "storyline.templating" not in loaded


def test_help_loads_no_database_library(tmp_path: Path) -> None:
    loaded = loaded_by("--help", database=f"sqlite:///{tmp_path}/none.db")
    assert "typer" in loaded and not {"sqlalchemy", "alembic", "httpx"} & loaded

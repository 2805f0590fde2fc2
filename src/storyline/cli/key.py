"""``storyline key``: the secret key that encrypts credentials and signs prompt links."""

from __future__ import annotations

import sys

import typer

from storyline.cli.common import err

app = typer.Typer(no_args_is_help=True, help="The secret key that encrypts credentials and signs prompt links.")


@app.command("generate")
def key_generate() -> None:
    """Print a new random key for STORYLINE_SECRET_KEY (base64 of 32 bytes); nothing is stored."""
    from storyline.credentials.keys import new_key

    sys.stdout.write(new_key() + "\n")
    err.print("set it for every storyline process that shares the database, e.g. "
              "export STORYLINE_SECRET_KEY=\"$(storyline key generate)\" (or, for a SQLite database, write it to "
              "the key file <database>.key, mode 0600), and keep a copy: credentials saved under a key cannot be "
              "read without it", markup=False, highlight=False)

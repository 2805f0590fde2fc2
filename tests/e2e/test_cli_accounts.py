"""`storyline user`, `token` and `audit` as an operator runs them, on SQLite and PostgreSQL.

Every change made with the command line is in the audit log, made by `cli:<os user>`, and no
password, token or credential value is anywhere in the database, the log or the output.
"""

from __future__ import annotations

import getpass
import json
import os
import select
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storyline.accounts.tokens import authenticate_token, hash_token
from storyline.accounts.users import check_login
from storyline.store.db import make_engine
from tests.e2e.processes import STORYLINE, cli, cli_json, environment

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
SECRET = "vt-api-key-0123456789"
ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return environment(database_url)


def database_text(database_url: str) -> str:
    """Everything the database holds, as text: every row of every table and, on SQLite, the files' bytes."""
    engine = make_engine(database_url)
    meta = sa.MetaData()
    meta.reflect(engine)
    parts: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            parts += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    engine.dispose()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        path = Path(url.database)
        parts += [file.read_bytes().decode("latin-1") for file in path.parent.glob(f"{path.name}*")]
    return "\n".join(parts)


def test_users_are_added_listed_changed_and_removed(env: dict[str, str], database_url: str) -> None:
    added = cli("user", "add", "Ana@Example.com", "--role", "admin", "--password-stdin", env=env, stdin=PASSWORD + "\n")
    assert "user ana@example.com (admin) added" in added.stdout
    cli("user", "add", "bob@example.com", "--role", "viewer", "--password-stdin", env=env, stdin=PASSWORD)
    assert [(u["email"], u["role"]) for u in cli_json("user", "list", env=env)] == [
        ("ana@example.com", "admin"), ("bob@example.com", "viewer")]

    cli("user", "set-role", "bob@example.com", "EDITOR", env=env)
    cli("user", "set-password", "bob@example.com", "--password-stdin", env=env, stdin=NEW_PASSWORD + "\n")
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert check_login(conn, "bob@example.com", PASSWORD) is None
        bob = check_login(conn, "bob@example.com", NEW_PASSWORD)
        assert bob is not None and bob.role == "editor"
    engine.dispose()

    cli("user", "remove", "BOB@example.com", env=env)
    assert [u["email"] for u in cli_json("user", "list", env=env)] == ["ana@example.com"]
    again = cli("user", "remove", "bob@example.com", env=env, check=False)
    assert again.returncode == 1 and "no user bob@example.com; `storyline user list` shows them" in again.stderr
    last = cli("user", "remove", "ana@example.com", env=env, check=False)
    assert last.returncode == 1 and "only admin" in last.stderr
    table = cli("user", "list", env=env).stdout
    assert "ana@example.com" in table and "$argon2id$" not in table and PASSWORD not in table


def test_a_short_password_is_refused_saying_how_long_and_no_user_is_added(env: dict[str, str]) -> None:
    refused = cli("user", "add", "ana@example.com", "--role", "admin", "--password-stdin", env=env, check=False,
                  stdin="hunter2\n")
    assert refused.returncode == 1 and "a password needs at least 12 characters" in refused.stderr
    assert "hunter2" not in refused.stdout + refused.stderr
    assert cli_json("user", "list", env=env) == []


def test_without_a_terminal_the_password_comes_from_password_stdin(env: dict[str, str]) -> None:
    refused = cli("user", "add", "ana@example.com", "--role", "admin", env=env, check=False, stdin=PASSWORD)
    assert refused.returncode == 1 and "give --password-stdin" in refused.stderr


def test_an_address_is_checked_before_the_password_is_asked_for(env: dict[str, str]) -> None:
    refused = cli("user", "add", "not-an-address", "--role", "admin", env=env, check=False, stdin=PASSWORD)
    assert refused.returncode == 1 and "'not-an-address' is not an e-mail address" in refused.stderr


def _read_until(fd: int, wanted: str, seen: list[str]) -> None:
    """Read the terminal until ``wanted`` appears (up to 30 s, however busy the machine is)."""
    while wanted not in "".join(seen):
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            raise AssertionError(f"no {wanted!r} on the terminal; it showed {''.join(seen)!r}")
        seen.append(os.read(fd, 4096).decode(errors="replace"))


def test_in_a_terminal_the_password_is_asked_twice_and_not_echoed(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path}/tty.db")
    master, slave = os.openpty()
    proc = subprocess.Popen([*STORYLINE, "user", "add", "ana@example.com", "--role", "admin"], env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen: list[str] = []
    try:
        # click writes "Password:", then getpass turns echo off and writes the " ": answer after that.
        _read_until(master, "Password: ", seen)
        os.write(master, (PASSWORD + "\n").encode())
        _read_until(master, "Repeat for confirmation: ", seen)
        os.write(master, (PASSWORD + "\n").encode())
        _read_until(master, "added", seen)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(master)
    assert PASSWORD not in "".join(seen)
    assert [u["email"] for u in cli_json("user", "list", env=env)] == ["ana@example.com"]


def test_a_token_is_printed_once_and_stored_only_as_its_hash(env: dict[str, str], database_url: str) -> None:
    created = cli("token", "create", "soar-sync", "--role", "editor", env=env)
    token = created.stdout.strip()
    assert token.startswith("stl_") and len(token) == 47
    assert "shown this once" in created.stderr
    as_json = cli_json("token", "create", "ci", "--role", "viewer", env=env)
    assert as_json["name"] == "ci" and as_json["role"] == "viewer" and as_json["token"].startswith("stl_")

    listed = cli("token", "list", "--json", env=env).stdout
    assert token not in listed and as_json["token"] not in listed
    assert [(t["name"], t["role"], t["last_used"], t["created_by"]) for t in json.loads(listed)] == [
        ("ci", "viewer", None, ACTOR), ("soar-sync", "editor", None, ACTOR)]
    stored = database_text(database_url)
    assert token not in stored and token[4:] not in stored and as_json["token"] not in stored
    assert hash_token(token) in stored

    engine = make_engine(database_url)
    with engine.begin() as conn:
        principal = authenticate_token(conn, token)
        assert principal is not None and principal.actor == "token:soar-sync" and principal.role == "editor"
    assert cli_json("token", "list", env=env)[1]["last_used"] is not None
    cli("token", "revoke", "soar-sync", env=env)
    with engine.begin() as conn:
        assert authenticate_token(conn, token) is None
    engine.dispose()
    gone = cli("token", "revoke", "soar-sync", env=env, check=False)
    assert gone.returncode == 1 and "no token named 'soar-sync'; `storyline token list` shows them" in gone.stderr


def test_every_change_made_with_the_cli_is_audited_and_no_secret_is(
    env: dict[str, str], database_url: str, story_file: Path
) -> None:
    name = json.loads(story_file.read_text())["name"]
    cli("story", "import", str(story_file), env=env)
    cli("story", "import", str(story_file), "--replace", env=env)
    cli("credential", "set", "vt", "--value", SECRET, "--allowed-host", "*.virustotal.com", env=env)
    cli("credential", "delete", "vt", env=env)
    cli("resource", "set", "tag", "soc-team", env=env)
    cli("resource", "set", "tag", "blue-team", env=env)
    cli("resource", "delete", "tag", env=env)
    cli("pack", "install", "security-chatbot", env=env)
    cli("user", "add", "ana@example.com", "--role", "admin", "--password-stdin", env=env, stdin=PASSWORD)
    cli("user", "add", "bob@example.com", "--role", "viewer", "--password-stdin", env=env, stdin=PASSWORD)
    cli("user", "set-password", "bob@example.com", "--password-stdin", env=env, stdin=NEW_PASSWORD)
    cli("user", "set-role", "bob@example.com", "editor", env=env)
    cli("user", "remove", "bob@example.com", env=env)
    token = cli("token", "create", "ci", "--role", "admin", env=env).stdout.strip()
    cli("token", "revoke", "ci", env=env)

    entries = cli_json("audit", env=env)
    assert {e["actor"] for e in entries} == {ACTOR}
    assert [(e["action"], e["target"]) for e in reversed(entries)] == [
        ("story.import", name), ("story.import", name),
        ("credential.set", "vt"), ("credential.delete", "vt"),
        ("resource.set", "tag"), ("resource.set", "tag"), ("resource.delete", "tag"),
        ("pack.install", "security-chatbot"),
        ("user.add", "ana@example.com"), ("user.add", "bob@example.com"),
        ("user.set_password", "bob@example.com"), ("user.set_role", "bob@example.com"),
        ("user.remove", "bob@example.com"),
        ("token.create", "ci"), ("token.revoke", "ci"),
    ]
    summaries = [e["summary"] for e in reversed(entries)]
    assert summaries[0].startswith("imported: ") and summaries[1].startswith("replaced: ")
    assert summaries[2] == "created: text, allowed hosts *.virustotal.com"
    assert summaries[4:6] == ["created (text)", "replaced (text)"]
    assert "stories installed: " in summaries[7]
    assert [e["action"] for e in cli_json("audit", "--limit", "2", env=env)] == ["token.revoke", "token.create"]
    table = cli("audit", env=env).stdout
    assert ACTOR in table and "credential.delete" in table

    for where, text in (("the database", database_text(database_url)), ("the audit log", json.dumps(entries))):
        for secret in (SECRET, PASSWORD, NEW_PASSWORD, token):
            assert secret not in text, f"{secret!r} is in {where}"

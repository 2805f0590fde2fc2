"""`storyline credential` and `storyline resource` as a user runs them, against a real database file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from storyline.credentials.keys import new_key
from tests.builders import HTTP, WEBHOOK, agent, story
from tests.e2e.processes import cli, cli_json, environment
from tests.fakes.httpbin import FakeHttpbin

SECRET = "vt-api-key-0123456789"


@pytest.fixture
def env(tmp_path: Path, bin_server: FakeHttpbin) -> dict[str, str]:
    return environment(f"sqlite:///{tmp_path}/cli.db", STORYLINE_EGRESS_OVERRIDES=f"httpbin.example={bin_server.url}")


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "lookup.json"
    path.write_text(json.dumps(story("Lookup", [
        agent(WEBHOOK, "Receive", path="lookup", secret="s3cret", verbs="post"),
        agent(HTTP, "Ask API", url="https://httpbin.example/anything?tag={{.RESOURCE.tag}}", method="get",
              headers={"x-apikey": "{% credential vt %}"}),
    ], [(0, 1)])))
    return path


def test_set_list_and_delete_never_show_a_value(env: dict[str, str]) -> None:
    out = cli("credential", "set", "vt", "--value", SECRET, "--allowed-host", "*.virustotal.com", env=env)
    assert "credential vt (text) saved" in out.stdout and SECRET not in out.stdout + out.stderr
    cli("credential", "set", "from_env", "--env", "MY_TOKEN", env={**env, "MY_TOKEN": "env-token-value"})
    cli("credential", "set", "bot", "--oauth2-client-credentials", "--token-url", "https://login.example.com/t",
        "--client-id", "app", "--client-secret", "oauth-secret-42", "--scope", "x/.default", env=env)
    cli("credential", "set", "session", "--http-request", '{"url": "https://login.example.com/s", "method": "post"}',
        "--token-path", "body.key", "--ttl", "600", env=env)
    listed = cli_json("credential", "list", env=env)
    assert listed == [
        {"name": "bot", "kind": "oauth2", "allowed_hosts": []},
        {"name": "from_env", "kind": "text", "allowed_hosts": []},
        {"name": "session", "kind": "http_request", "allowed_hosts": []},
        {"name": "vt", "kind": "text", "allowed_hosts": ["*.virustotal.com"]},
    ]
    table = cli("credential", "list", env=env).stdout
    assert "vt" in table and SECRET not in table and "oauth-secret" not in table and "env-token" not in table
    cli("credential", "delete", "bot", env=env)
    gone = cli("credential", "delete", "bot", env=env, check=False)
    assert gone.returncode == 1 and "no credential named 'bot'" in gone.stderr
    assert [c["name"] for c in cli_json("credential", "list", env=env)] == ["from_env", "session", "vt"]


@pytest.mark.parametrize(("args", "message"), [
    ((), "give exactly one of --value, --env"),
    (("--value", "a", "--env", "B"), "(got --value, --env)"),
    (("--env", "NOT_SET_ANYWHERE"), "--env NOT_SET_ANYWHERE: that environment variable is not set"),
    (("--oauth2-client-credentials", "--token-url", "https://l.example/t"), "--client-id and --client-secret"),
    (("--http-request", "{nope"), "--http-request is not valid JSON"),
])
def test_bad_credential_options_are_refused(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = cli("credential", "set", "x", *args, env=env, check=False)
    assert result.returncode == 1 and message in result.stderr


def test_resources_set_list_delete(env: dict[str, str]) -> None:
    cli("resource", "set", "tag", "soc-team", env=env)
    cli("resource", "set", "lists", '{"block": ["1.2.3.4"]}', "--json", env=env)
    assert cli_json("resource", "list", env=env) == [
        {"name": "lists", "value": {"block": ["1.2.3.4"]}}, {"name": "tag", "value": "soc-team"}]
    bad = cli("resource", "set", "x", "{nope", "--json", env=env, check=False)
    assert bad.returncode == 1 and "VALUE is not valid JSON" in bad.stderr
    cli("resource", "delete", "lists", env=env)
    assert [r["name"] for r in cli_json("resource", "list", env=env)] == ["tag"]


def test_events_json_never_contains_the_secret(env: dict[str, str], story_file: Path, httpbin: FakeHttpbin) -> None:
    cli("credential", "set", "vt", "--value", SECRET, env=env)
    cli("resource", "set", "tag", "soc-team", env=env)
    cli("story", "import", str(story_file), env=env)
    # `run NAME` runs a copy of the story on a throwaway database, with the configured credentials.
    events = cli("run", "Lookup", "--input", "{}", "--json", env=env).stdout
    assert SECRET not in events
    answer = json.loads(events)[-1]["payload"]["ask_api"]
    assert answer["body"]["headers"]["x-apikey"] == "[credential:vt]"
    assert answer["body"]["args"] == {"tag": "soc-team"}
    assert httpbin.calls[-1].headers["x-apikey"] == SECRET
    # `run FILE` uses a throwaway database but the configured credentials and resources.
    ran = cli("run", str(story_file), "--input", "{}", "--json", env=env).stdout
    assert SECRET not in ran and json.loads(ran)[-1]["payload"]["ask_api"]["body"]["args"] == {"tag": "soc-team"}
    assert httpbin.calls[-1].headers["x-apikey"] == SECRET


def test_a_generated_key_file_is_announced_once_and_a_wrong_key_is_refused(
    tmp_path: Path, story_file: Path
) -> None:
    env = environment(f"sqlite:///{tmp_path}/keyed.db")
    del env["STORYLINE_SECRET_KEY"]
    first = cli("credential", "set", "vt", "--value", SECRET, env=env)
    key_file = tmp_path / "keyed.db.key"
    assert f"created the secret key {key_file}; back it up" in first.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = cli("credential", "set", "other", "--value", "other-value", env=env)
    assert "back it up" not in second.stderr
    original = key_file.read_text()

    wrong = {**env, "STORYLINE_SECRET_KEY": new_key()}
    for args in (("credential", "set", "vt", "--value", "replaced"), ("run", str(story_file)), ("worker",)):
        refused = cli(*args, env=wrong, check=False)
        assert refused.returncode == 1, args
        assert "cannot decrypt credentials: STORYLINE_SECRET_KEY does not match" in refused.stderr, args
    assert key_file.read_text() == original
    assert [c["name"] for c in cli_json("credential", "list", env=env)] == ["other", "vt"]


def test_an_env_value_loses_one_trailing_newline_and_says_so(
    env: dict[str, str], story_file: Path, httpbin: FakeHttpbin
) -> None:
    saved = cli("credential", "set", "vt", "--env", "VT_KEY", env={**env, "VT_KEY": f"{SECRET}\n"})
    assert "--env VT_KEY: the value ended in a line break, which was removed" in saved.stderr
    assert SECRET not in saved.stdout + saved.stderr
    cli("resource", "set", "tag", "soc-team", env=env)
    cli("story", "import", str(story_file), env=env)
    cli("run", "Lookup", "--input", "{}", env=env)
    assert httpbin.calls[-1].headers["x-apikey"] == SECRET


@pytest.mark.parametrize("args", [
    ("--value", f"{SECRET}\n"),
    ("--value", f"{SECRET}\tx"),
    ("--env", "TWO_LINES"),
])
def test_a_value_with_a_control_character_is_refused(env: dict[str, str], args: tuple[str, ...]) -> None:
    result = cli("credential", "set", "vt", *args, env={**env, "TWO_LINES": f"{SECRET}\nsecond\n"}, check=False)
    assert result.returncode == 1 and "credential 'vt': the value contains" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert cli_json("credential", "list", env=env) == []

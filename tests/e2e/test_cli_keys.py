"""`storyline key generate`: the key the secret-key errors tell the user to make."""

from __future__ import annotations

import base64

from tests.e2e.processes import cli, cli_json


def test_key_generate_prints_a_new_32_byte_key_alone_on_stdout_and_how_to_use_it_on_stderr(
    env: dict[str, str],
) -> None:
    first, second = cli("key", "generate", env=env), cli("key", "generate", env=env)
    key = first.stdout.strip()
    assert first.stdout == key + "\n", "stdout is the key alone, for $(storyline key generate)"
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
    assert second.stdout != first.stdout
    assert "STORYLINE_SECRET_KEY" in first.stderr and key not in first.stderr


def test_the_advice_of_a_bad_secret_key_error_works(env: dict[str, str]) -> None:
    bad = {**env, "STORYLINE_SECRET_KEY": "dG9vLXNob3J0"}  # base64 of 9 bytes
    refused = cli("credential", "set", "virustotal", "--value", "vt-key", env=bad, check=False)
    assert refused.returncode == 1
    assert "STORYLINE_SECRET_KEY must decode to 32 bytes, not 9" in refused.stderr
    assert "`storyline key generate`" in refused.stderr

    fixed = {**env, "STORYLINE_SECRET_KEY": cli("key", "generate", env=env).stdout.strip()}
    cli("credential", "set", "virustotal", "--value", "vt-key", env=fixed)
    assert [c["name"] for c in cli_json("credential", "list", env=fixed)] == ["virustotal"]

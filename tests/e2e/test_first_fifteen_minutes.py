"""A newcomer's first fifteen minutes against `make run` (`storyline serve --demo`), as real processes.

Each test is something issue 16 found confusing: what the console prints, what exit code a
command ends with, what a message says.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.processes import Process, cli, environment, free_port, serve

pytestmark = pytest.mark.slow


@dataclass
class Demo:
    base: str
    env: dict[str, str]
    server: Process

    def cli(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        done = cli(*args, env=self.env, check=check)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = environment(f"sqlite:///{home}/storyline.db", XDG_CACHE_HOME=str(home / "cache"))
    server = serve(port, env, home / "serve.log", "--demo")
    try:
        yield Demo(f"http://127.0.0.1:{port}", env, server)
    finally:
        server.stop()


def clicks(output: str, label: str) -> list[str]:
    """The console flags printed for every button called ``label``."""
    return [shlex.split(line.split(" click: ", 1)[1]) for line in output.splitlines()
            if line.strip().startswith(f"[{label}] click: ")]


def test_the_teams_console_works_against_the_demo_and_prints_every_button_with_what_clicks_it(demo: Demo) -> None:
    port = str(free_port())
    _, said, _ = demo.cli("chat", "teams", "analyzedomain evil-example.com", "--url", demo.base, "--port", port)
    assert "evil-example.com: malicious" in said
    [whitelist] = clicks(said, "Whitelist")
    [block] = clicks(said, "Block")
    assert block[0] == "--value" and json.loads(block[1]) == {"decision": "block", "indicator": "evil-example.com"}
    assert whitelist[0] == "--value"
    # The printed flags, pasted as they are, click the button.
    code, clicked, _ = demo.cli("chat", "teams", *block, "--url", demo.base, "--port", port)
    assert code == 0 and "bot: Console User chose to **block** evil-example.com." in clicked


def test_the_slack_console_prints_its_buttons_with_the_flags_that_click_them(demo: Demo) -> None:
    sink = f"127.0.0.1:{free_port()}"
    _, said, _ = demo.cli("chat", "slack", "/analyzedomain evil-example.com", "--url", demo.base, "--sink", sink)
    [block] = clicks(said, "Block")
    assert block == ["--click", "block:evil-example.com", "--value", "evil-example.com"]
    code, clicked, _ = demo.cli("chat", "slack", *block, "--url", demo.base, "--sink", sink, "--user", "bob")
    assert code == 0 and "chose to *block* `evil-example.com`." in clicked

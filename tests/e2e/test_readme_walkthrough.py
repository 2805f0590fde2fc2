"""The README's walkthroughs, run as written against a real `storyline serve --demo`.

Each fenced block of a walkthrough runs as one bash script from the repository's root (so
`.venv/bin/storyline` is the command a newcomer types, here this interpreter's), against a demo
server on a free port instead of 8000. The comment lines under a command are what the README
promises it prints: they must appear, in order. In them ``...`` stands for anything, and numbers
(days since a date, user ids) may differ.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import cli_json, environment, free_port, serve
from tests.support import eventually

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
NOT_RUN = ("make run",)
"""Lines a walkthrough shows that the test has already done (the server is up)."""


def blocks(start: str, end: str) -> list[str]:
    """The ``sh`` blocks of the README between two headings or phrases."""
    section = README[README.index(start):README.index(end, README.index(start))]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def promised(block: str) -> list[str]:
    """What the block's comment lines say its commands print."""
    return [line[2:] for line in block.splitlines()
            if line.startswith("# ") and not line.startswith(("# in another terminal", "# the alert"))]


def pattern(line: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in line.split("...")]
    text = ".*".join(parts)
    return re.compile(re.sub(r"\d+", r"\\d+", text.replace(r"\ ", " ")))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("readme")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(f"sqlite:///{home}/storyline.db", XDG_CACHE_HOME=str(home / "cache"), STORYLINE_PUBLIC_URL=base)
    server = serve(port, env, home / "serve.log", "--demo")
    try:
        yield base, env
    finally:
        server.stop()


def run_block(block: str, base: str, env: dict[str, str]) -> str:
    script = "\n".join(line for line in block.splitlines() if line.strip() not in NOT_RUN)
    script = script.replace("http://127.0.0.1:8000", base).replace(
        ".venv/bin/storyline", f"{sys.executable} -m storyline.cli")
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{script}\nexited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_in_order(output: str, lines: list[str]) -> None:
    rest = output
    for line in lines:
        found = pattern(line).search(rest)
        assert found, f"README promises {line!r}; the rest of the output is:\n{rest}"
        rest = rest[found.end():]


def test_the_two_minute_walkthrough_answers_as_written(demo: tuple[str, dict[str, str]]) -> None:
    base, env = demo
    send, look = blocks("## A two-minute walkthrough", "Bring your own stories")
    assert_in_order(run_block(send, base, env), promised(send))
    # The story runs after the answer; once it has, every command of the second block shows it.
    eventually(lambda: cli_json("events", "--action", "Build finding", env=env), 30, "the story built a finding")
    shown = run_block(look, base, env)
    assert "Build finding" in shown
    assert "Demo alert triage" in shown and '"ip": "203.0.113.7"' in shown


@pytest.mark.skipif(shutil.which("jq") is None, reason="the README's walkthrough uses jq, which is not installed")
def test_the_offline_chatbot_walkthrough_answers_as_written(demo: tuple[str, dict[str, str]]) -> None:
    base, env = demo
    [block] = blocks("**Offline walkthrough.**", "**Connecting a real Slack app.**")
    assert_in_order(run_block(block.replace('"/analyzedomain', f'--url {base} "/analyzedomain').replace(
        "--value evil-example.com\n", f"--value evil-example.com --url {base}\n"), base, env), promised(block))

"""What the CLI tests share: a database file of their own and the slash-command story on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders import slash_command_story
from tests.e2e.processes import environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return environment(f"sqlite:///{tmp_path}/cli.db")


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "slash.json"
    path.write_text(json.dumps(slash_command_story()))
    return path

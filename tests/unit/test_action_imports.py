"""Importing the actions loads no chat SDK and no chat console: the verification kinds are listed, not self-registered."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import storyline.actions
print("\\n".join(sorted(sys.modules)))
"""


def _loaded_by_importing_the_actions() -> set[str]:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_importing_the_actions_loads_no_chat_sdk_or_console() -> None:
    loaded = _loaded_by_importing_the_actions()
    assert "storyline.actions.plugins" in loaded  # the probe saw the registry load
    assert not {name for name in loaded if name.split(".")[0] == "slack_sdk"}
    assert not {name for name in loaded if name.startswith("storyline.chat.") and name.endswith("_console")}

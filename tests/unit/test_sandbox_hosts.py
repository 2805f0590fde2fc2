"""`make run` is all the shipped stories and the chat consoles need: the demo plays every host they call."""

from __future__ import annotations

import re

from storyline import sandbox
from storyline.chat.teams_console import CONSOLE_HOSTS
from storyline.standins.botframework import HOSTS as MICROSOFT_HOSTS
from storyline.stories import HERE

NOT_CALLED = {"adaptivecards.io", "developer.microsoft.com", "storyline.example.com"}
"""Hosts the shipped files name without calling them: card schemas, documentation, the manifest's example."""


def test_every_host_a_shipped_story_calls_is_played_by_the_demo_sandbox() -> None:
    named = {host for path in HERE.rglob("*.json")
             for host in re.findall(r"https?://([a-z0-9.-]+)", path.read_text(), flags=re.IGNORECASE)}
    assert named - NOT_CALLED, "the pattern still finds the stories' hosts"
    assert named - NOT_CALLED - set(sandbox.HOSTS) == set()


def test_every_microsoft_host_the_teams_console_and_bot_need_is_played_by_the_demo_sandbox() -> None:
    assert {"login.botframework.com", *CONSOLE_HOSTS, *MICROSOFT_HOSTS} <= set(sandbox.HOSTS)

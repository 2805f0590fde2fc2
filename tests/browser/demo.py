"""A real ``storyline serve --demo`` and what a person does with it in Chromium: open it, sign in, chat.

Shared by the browser tests (``conftest.py``) and ``docs/screenshots.py``, which draws the README's
pictures the same way, so both drive the console as a user does and agree on how.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page as Tab
from playwright.sync_api import expect

from tests.e2e.processes import Process, environment, free_port, serve

CHROMIUM = "/usr/bin/chromium"
DEMO_ADMIN = "demo@localhost"
ANSWER_WITHIN = 30_000
"""Milliseconds the demo's bot may take to answer a chat message (its story runs in between)."""


def chromium() -> str | None:
    """The machine's own Chromium (Playwright never downloads one), or None."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class Demo:
    """A ``storyline serve --demo`` process and its address."""

    url: str
    process: Process

    def admin_password(self) -> str:
        """The demo admin's password, which serve's banner prints once (a fresh database's only user)."""
        found = re.search(rf"as {re.escape(DEMO_ADMIN)}, password (\S+)", self.process.output())
        assert found is not None, self.process.output()
        return found.group(1)

    def stop(self) -> None:
        self.process.stop()


def start_demo(home: Path) -> Demo:
    """``serve --demo`` on a fresh SQLite file in ``home`` and a free port, answering once healthy."""
    port = free_port()
    env = environment(f"sqlite:///{home}/demo.db", XDG_CACHE_HOME=str(home / "cache"))
    return Demo(f"http://127.0.0.1:{port}", serve(port, env, home / "serve.log", "--demo"))


def sign_in(tab: Tab, demo: Demo, email: str = DEMO_ADMIN, password: str | None = None, then: str = "/") -> None:
    """Fill in the login form and land on ``then`` (the demo admin unless told otherwise)."""
    tab.goto(f"{demo.url}/login?next={then}")
    tab.get_by_label("E-mail address").fill(email)
    tab.get_by_label("Password").fill(demo.admin_password() if password is None else password)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{demo.url}{then}")


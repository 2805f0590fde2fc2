"""Browser tests: Playwright driving Debian's Chromium against a real ``storyline serve`` process.

The browser is the machine's own (``apt-get install -y chromium``, which ``make test`` and
``.ci/run`` do when it is missing); Playwright never downloads one. Each test saves a
screenshot of the pages it visits under ``--screenshots DIR`` or its ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, sync_playwright
from playwright.sync_api import Page as Tab

from tests.e2e.processes import Process, environment, free_port, serve

CHROMIUM = "/usr/bin/chromium"


def chromium() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class Demo:
    """A ``storyline serve --demo`` process and its address."""

    url: str
    process: Process


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = environment(f"sqlite:///{home}/demo.db", XDG_CACHE_HOME=str(home / "cache"))
    process = serve(port, env, home / "serve.log", "--demo")
    try:
        yield Demo(f"http://127.0.0.1:{port}", process)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Browser]:
    """Chromium; the server starts first, because sync Playwright keeps an event loop running in this
    thread (where ``tests.support.eventually`` would then hand back a coroutine instead of waiting)."""
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium at /usr/bin/chromium or on PATH: `apt-get install -y chromium` "
                    "(make test does it when it can)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Page:
    """A browser tab that records what must never happen on a console page: a dialog, a CSP violation."""

    tab: Tab
    screenshots: Path
    prefix: str
    dialogs: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def shoot(self, name: str) -> Path:
        path = self.screenshots / f"{self.prefix}-{name}.png"
        self.tab.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    chosen = request.config.getoption("--screenshots")
    screenshots = Path(chosen) if chosen else tmp_path
    screenshots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    watched = Page(tab, screenshots, request.node.name)

    def dialog(d: Dialog) -> None:
        watched.dialogs.append(d.message)
        d.dismiss()

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            watched.violations.append(message.text)

    tab.on("dialog", dialog)
    tab.on("console", console)
    try:
        yield watched
    finally:
        context.close()


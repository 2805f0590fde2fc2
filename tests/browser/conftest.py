"""Browser tests: Playwright driving Debian's Chromium against a real ``storyline serve`` process.

The browser is the machine's own (``apt-get install -y chromium``, which ``make test`` and
``.ci/run`` do when it is missing); Playwright never downloads one. Each test saves a
screenshot of every page it visits to ``test-output/screenshots/`` (git ignores it), or to
``--screenshots DIR``, named after the test: the test output a person looks at after a run.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, sync_playwright
from playwright.sync_api import Page as Tab

from tests.browser.demo import Demo, chromium, start_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    started = start_demo(tmp_path_factory.mktemp("demo"))
    try:
        yield started
    finally:
        started.stop()


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

    def shoot(self, name: str, tab: Tab | None = None) -> Path:
        """Save the whole page (this tab's, or another a test opened) as ``TEST-NAME.png``."""
        path = self.screenshots / f"{self.prefix}-{name}.png"
        (tab or self.tab).screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, screenshots: Path) -> Iterator[Page]:
    prefix = request.node.name
    for earlier in screenshots.glob(f"{glob.escape(prefix)}-*.png"):  # a shot this test no longer takes
        earlier.unlink()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    watched = Page(tab, screenshots, prefix)

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


"""The console is usable with a keyboard and a screen reader: every control is named, the graph is reachable.

Chromium computes each control's accessible name the way assistive technology reads it; a control
without one (an input with no label, an icon button with no text) is announced as "edit text" or
"button" and nothing more.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Page
from tests.browser.demo import Demo, sign_in

pytestmark = pytest.mark.slow

PAGES = ("/stories", "/runs", "/events", "/credentials", "/resources", "/packs", "/audit", "/users", "/tokens",
         "/playground")

UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
  .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
  .filter((el) => {
    const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.getAttribute('title');
    const text = (el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent.trim();
    return !(named || text);
  })
  .map((el) => el.outerHTML.slice(0, 160))"""


def test_every_control_on_every_console_page_has_a_name(page: Page, demo: Demo) -> None:
    tab = page.tab
    sign_in(tab, demo)
    tab.goto(f"{demo.url}/stories")
    story = tab.locator("table.stories tbody th a").first.get_attribute("href")
    assert story is not None
    for path in (*PAGES, story):
        answer = tab.goto(f"{demo.url}{path}")
        assert answer is not None and answer.status == 200, path
        page.shoot(path.strip("/").replace("/", "-"))
        assert tab.evaluate(UNNAMED_CONTROLS) == [], f"unnamed controls on {path}"
    assert page.violations == []


def test_an_action_on_the_graph_opens_its_panel_from_the_keyboard(page: Page, demo: Demo) -> None:
    tab = page.tab
    sign_in(tab, demo)
    tab.goto(f"{demo.url}/stories")
    tab.locator("table.stories tbody th a").first.focus()
    tab.keyboard.press("Enter")
    expect(tab.locator("svg.graph")).to_be_visible()

    action = tab.locator("svg.graph a.action").first
    name = action.get_attribute("aria-label")
    assert name is not None
    action.focus()
    assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == name
    tab.keyboard.press("Enter")
    panel = tab.locator("aside#panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#panel-title")).to_have_text(re.compile(re.escape(name.split(": ")[0])))
    expect(panel.get_by_label("Options")).to_be_visible()
    page.shoot("panel-from-keyboard")

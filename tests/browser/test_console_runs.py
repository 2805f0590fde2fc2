"""/runs, /runs/{guid}, /events and the admin pages in Chromium against `storyline serve --demo`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Browser, expect
from playwright.sync_api import Page as Tab

from tests.browser.conftest import Page
from tests.browser.demo import Demo, sign_in

pytestmark = pytest.mark.slow

WITHIN = 30_000
HOSTILE = ('<script>window.pwned=1;alert(1)</script> "><img src=x onerror=alert(2)> <svg onload=alert(3)> '
           '<a href="javascript:alert(4)">javascript:alert(5)</a>')


def slash_command(demo: Demo, text: str) -> None:
    """What a Slack user types, sent through the demo's playground (signed as Slack signs it)."""
    answer = httpx.post(f"{demo.url}/playground/slack/say", data={"text": text, "user": "ana"},
                        headers={"x-playground": "1"}, timeout=30)
    assert answer.status_code == 204, answer.text


def until(check: Callable[[], bool], tab: Tab, what: str) -> None:
    """Reload ``tab`` until ``check`` holds (a run's later events are written after the page was drawn)."""
    deadline = time.monotonic() + WITHIN / 1000
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        tab.wait_for_timeout(500)
        tab.reload()


def test_a_slash_command_shows_up_live_and_its_run_reads_the_virustotal_answer(page: Page, demo: Demo,
                                                                               browser: Browser) -> None:
    tab = page.tab
    page.tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo.url)
    sign_in(tab, demo)
    tab.goto(f"{demo.url}/runs")
    before = tab.locator("tbody#runs tr").count()
    page.shoot("runs-before")

    slash_command(demo, "/analyzedomain evil-example.com")
    row = tab.locator("tbody#runs tr", has_text="Slack security chatbot").first
    expect(tab.locator("tbody#runs tr")).to_have_count(before + 1, timeout=WITHIN)  # no reload
    expect(row).to_be_visible()
    page.shoot("runs-live")

    row.get_by_role("link").click()
    virustotal = tab.locator("li.event", has=tab.locator(".action", has_text="Search VirusTotal"))
    until(lambda: virustotal.count() > 0, tab, "the VirusTotal search's event")
    expect(virustotal.first).to_contain_text("malicious")
    malicious = virustotal.first.locator("button.j-value[data-path$='.last_analysis_stats.malicious}}']").first
    while not malicious.is_visible():  # unfold the tree down to it, as a person would
        malicious.locator("xpath=ancestor::details[not(@open)][last()]/summary/span[@class='j-key']").click()
    expect(malicious).to_have_text("12")
    path = malicious.get_attribute("data-path")
    assert path is not None and path.startswith("{{.search_virustotal.body.data")
    page.shoot("run")

    malicious.click()
    expect(tab.locator(".copied")).to_have_text(f"Copied {path}")
    assert tab.evaluate("navigator.clipboard.readText()") == path

    run_url = tab.url
    first_event = tab.locator("li.event").first
    first_event.get_by_role("button", name=re.compile("Re-emit event")).click()
    expect(tab.get_by_text("Re-emitted: this is the new run.")).to_be_visible()
    assert tab.url != run_url and "/runs/" in tab.url
    page.shoot("reemitted")
    assert page.dialogs == [] and page.violations == []


def test_a_viewer_made_on_the_users_page_cannot_open_credentials(page: Page, demo: Demo, browser: Browser) -> None:
    tab = page.tab
    sign_in(tab, demo)
    tab.goto(f"{demo.url}/users")
    form = tab.locator("section", has=tab.get_by_role("heading", name="Add a user"))
    form.get_by_label("E-mail").fill("viewer@example.com")
    form.get_by_label("Role").select_option("viewer")
    form.get_by_label("Password").fill("a viewer's long passphrase")
    form.get_by_role("button", name="Add").click()
    expect(tab.get_by_text("User added.")).to_be_visible()
    page.shoot("users")

    context = browser.new_context()
    try:
        viewer = context.new_page()
        viewer.goto(f"{demo.url}/login")
        page.shoot("login", viewer)
        sign_in(viewer, demo, "viewer@example.com", "a viewer's long passphrase")
        answer = viewer.goto(f"{demo.url}/credentials")
        assert answer is not None and answer.status == 403
        expect(viewer.get_by_text("this needs the admin role")).to_be_visible()
        page.shoot("viewer-credentials-refused", viewer)
        assert viewer.goto(f"{demo.url}/runs") is not None
        expect(viewer.get_by_role("heading", name="Runs")).to_be_visible()
    finally:
        context.close()


def test_hostile_event_payloads_stay_inert_on_the_run_and_events_pages(page: Page, demo: Demo) -> None:
    tab = page.tab
    sign_in(tab, demo)
    slash_command(demo, f"/analyzedomain {HOSTILE}")
    tab.goto(f"{demo.url}/runs")
    expect(tab.locator("tbody#runs tr").first).to_be_visible()
    href = tab.locator("tbody#runs tr a").first.get_attribute("href")
    assert href is not None
    for path in (href, "/events?text=onerror"):
        tab.goto(f"{demo.url}{path}")
        expect(tab.locator("main").get_by_text("onerror=alert(2)").first).to_be_attached()
        tab.evaluate("document.querySelectorAll('main details').forEach((d) => { d.open = true; })")
        page.shoot("hostile-" + ("run" if path == href else "events"))
        main = tab.locator("main")
        assert main.locator("img, svg, iframe, object, embed, script").count() == 0
        assert main.locator("[onerror], [onload], [onclick], [onmouseover]").count() == 0
        assert tab.locator("a[href^='javascript' i]").count() == 0
        assert tab.evaluate("window.pwned") is None
    assert page.dialogs == [] and page.violations == []

"""Draw the README's pictures of the console (docs/img/*.png) from a real ``storyline serve --demo``.

    .venv/bin/python docs/screenshots.py        # or: make screenshots

It serves the demo on a throwaway SQLite file and a free port and does in Chromium what a person
trying storyline does: asks the Slack and the Teams bot about evil-example.com on /playground and
clicks Block, sends the README walkthrough's alerts, signs in as the demo admin with the password
serve's banner printed, and looks at the stories, a story's graph with an action's panel open, the
runs, a run's timeline with the VirusTotal answer unfolded, and a search of the events. Each picture
is the same 1280x800 viewport at one device pixel, whatever the machine's screen; they are committed,
so run this again when a page's look changes.

Chromium is the machine's own (/usr/bin/chromium; never downloaded). Debian's ``pngquant``, when
installed, makes the pictures about a third of Chromium's size with no visible change, and
``fonts-noto-color-emoji`` draws the bot's emoji (without it Chromium draws a box). The demo and the
sign-in are the browser tests' own (``tests/browser/demo.py``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Locator, ViewportSize, expect, sync_playwright
from playwright.sync_api import Page as Tab

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.demo import ANSWER_WITHIN, Demo, chromium, sign_in, start_demo  # noqa: E402

OUT = REPO / "docs" / "img"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
DOMAIN = "evil-example.com"
ALERTS = [  # the README walkthrough's alert, and a low-severity one
    {"reporter": "alice", "title": "Beaconing", "severity": 8, "details": "seen 203.0.113.7 and 198.51.100.23"},
    {"reporter": "bob", "title": "Port scan", "severity": 3, "details": "from 192.0.2.44"},
]


def shoot(tab: Tab, out: Path, name: str) -> Path:
    """The viewport as ``out/name.png``, the pointer out of the way, made smaller when pngquant can."""
    tab.mouse.move(0, 0)
    path = out / f"{name}.png"
    tab.screenshot(path=str(path), animations="disabled")
    if shutil.which("pngquant"):
        subprocess.run(["pngquant", "--quality", "70-95", "--speed", "1", "--strip", "--skip-if-larger",
                        "--force", "--ext", ".png", str(path)], check=False)
    print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size // 1024} KB")
    return path


def chat(tab: Tab, platform: str, text: str, user: str) -> Locator:
    """Type ``text`` to one bot on /playground as ``user``; its verdict, once it shows with its buttons."""
    side = tab.locator(f"section#{platform}")
    side.get_by_label("You are").fill(user)
    side.get_by_label(f"Message to the {'Slack' if platform == 'slack' else 'Teams'} bot").fill(text)
    side.get_by_role("button", name="Send").click()
    verdict = side.locator("li.who-bot", has_text=f"{DOMAIN}: malicious").last
    expect(verdict.get_by_role("button", name="Block")).to_be_visible(timeout=ANSWER_WITHIN)
    return verdict


def draw(tab: Tab, demo: Demo, out: Path) -> None:
    """Every picture, in the order a person meets the pages."""
    tab.goto(f"{demo.url}/playground")
    slack = chat(tab, "slack", f"/analyzedomain {DOMAIN}", "ana")
    chat(tab, "teams", f"analyzedomain {DOMAIN}", "Bob Teams")
    shoot(tab, out, "playground")
    slack.get_by_role("button", name="Block").click()
    expect(tab.locator("section#slack li.who-bot", has_text=f"chose to block {DOMAIN}")).to_be_visible(
        timeout=ANSWER_WITHIN)
    for alert in ALERTS:  # as the README's curl sends them
        httpx.post(f"{demo.url}/webhook/demo-alert/demo-secret", json=alert).raise_for_status()

    sign_in(tab, demo, then="/stories")
    shoot(tab, out, "stories")

    tab.get_by_role("link", name="Demo alert triage", exact=True).click()
    receive = tab.locator("svg.graph a.action", has=tab.locator("title", has_text="Receive alert"))
    expect(receive.locator("text.count")).to_have_text(f"{len(ALERTS)} events in 24 h", timeout=ANSWER_WITHIN)
    tab.locator("svg.graph a.action", has=tab.locator("title", has_text="Extract IP addresses")).click()
    expect(tab.locator(".recent-events li")).to_have_count(1, timeout=ANSWER_WITHIN)
    tab.evaluate("window.scrollTo(0, 0)")
    shoot(tab, out, "story")

    tab.get_by_role("link", name="Runs", exact=True).click()
    expect(tab.locator("tbody#runs tr", has_text="Demo alert triage")).to_have_count(len(ALERTS))
    shoot(tab, out, "runs")

    # newest first: the last of the Slack bot's runs is the command's (the click on Block started another)
    tab.locator("tbody#runs tr", has_text="Slack security chatbot").last.get_by_role("link").click()
    virustotal = tab.locator("li.event", has=tab.locator(".action", has_text="Search VirusTotal")).first
    malicious = virustotal.locator("button.j-value[data-path$='.last_analysis_stats.malicious}}']").first
    while not malicious.is_visible():  # unfold the tree down to it, as a person would
        malicious.locator("xpath=ancestor::details[not(@open)][last()]/summary/span[@class='j-key']").click()
    virustotal.locator("summary", has_text="headers").first.click()  # folded: the answer's body is the point
    virustotal.evaluate("(event) => event.scrollIntoView({block: 'center'})")
    shoot(tab, out, "run")

    tab.get_by_role("link", name="Events", exact=True).click()
    tab.get_by_label("Text").fill(DOMAIN)
    tab.get_by_role("button", name="Search").click()
    expect(tab.locator("li.event").first).to_be_visible()
    shoot(tab, out, "events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNGs go (default: {OUT.relative_to(REPO)})")
    out = parser.parse_args().out.resolve()
    executable = chromium()
    if executable is None:
        sys.exit("no Chromium at /usr/bin/chromium or on PATH: apt-get install -y chromium")
    out.mkdir(parents=True, exist_ok=True)
    if not shutil.which("pngquant"):
        print("pngquant is not installed (apt-get install -y pngquant): the pictures stay Chromium's size")
    with tempfile.TemporaryDirectory(prefix="storyline-screenshots-") as home:
        demo = start_demo(Path(home))  # before Playwright, whose event loop would turn eventually() async
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable)
                try:
                    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                    draw(context.new_page(), demo, out)
                finally:
                    browser.close()
        finally:
            demo.stop()


if __name__ == "__main__":
    main()

"""/stories and /stories/{id} in Chromium against `storyline serve --demo`: import, the graph, editing, hostile names.

The Slack article's story and the largest corpus story come from ``../shared/tines-stories``
(test data, never copied here): those tests skip when it is absent.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Page
from tests.browser.demo import Demo, sign_in
from tests.builders import TRANSFORM, WEBHOOK, agent, story

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "tines-stories"
SLACK_ARTICLE = CORPUS / "blog--slack-chatbot.json"
HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<svg onload=alert(1)>")
DRAWN_WITHIN_MS = 1000
LIVE_WITHIN = 15_000


def corpus_file(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real Tines exports live in ../shared/tines-stories (test data only)")
    return path


def largest_corpus_story() -> Path:
    """The corpus export with the most actions."""
    corpus_file(SLACK_ARTICLE)
    return max(CORPUS.glob("*.json"), key=lambda path: len(json.loads(path.read_text()).get("agents", [])))


def import_story(page: Page, *, file: Path | None = None, pasted: str = "") -> int:
    """Check an export on /stories, read the report, confirm; the new story's id."""
    tab = page.tab
    tab.goto(tab.url.split("/stories")[0] + "/stories")
    if file is not None:
        tab.get_by_label("Export file").set_input_files(str(file))
    else:
        tab.get_by_label("or paste the export's JSON").fill(pasted)
    tab.get_by_role("button", name="Check").click()
    expect(tab.get_by_role("heading", name="tines check")).to_be_visible()
    page.shoot("import-report")
    if tab.get_by_text("already imported as").count():
        tab.get_by_label("a copy beside it", exact=False).check()
    tab.get_by_role("button", name="Import").click()
    expect(tab.get_by_text("Imported.")).to_be_visible()
    found = re.search(r"/stories/(\d+)", tab.url)
    assert found is not None, tab.url
    return int(found.group(1))


def milliseconds_to_draw(page: Page, url: str) -> float:
    """From the start of the navigation to the second frame painted after the page loaded."""
    page.tab.goto(url, wait_until="load")
    return float(page.tab.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now()))))"))


def test_the_slack_articles_story_is_imported_and_every_action_is_on_the_graph(page: Page, demo: Demo) -> None:
    export = json.loads(corpus_file(SLACK_ARTICLE).read_text())
    sign_in(page.tab, demo, then="/stories")
    page.shoot("stories")
    story_id = import_story(page, file=SLACK_ARTICLE)
    tab = page.tab
    nodes = tab.locator("svg.graph a.action")
    expect(nodes).to_have_count(len(export["agents"]))
    for action in export["agents"]:
        expect(tab.locator("svg.graph a.action", has=tab.locator("title", has_text=action["name"])).first
               ).to_be_attached()
    assert tab.locator("svg.graph path.link").count() == len(export["links"])
    expect(tab.get_by_text("laid out in layers")).to_be_visible()
    page.shoot("slack-graph")

    webhook = next(a for a in export["agents"] if a["type"] == "Agents::WebhookAgent")
    tab.locator("svg.graph a.action", has=tab.locator("title", has_text=webhook["name"])).first.click()
    expect(tab.get_by_role("heading", name=webhook["name"])).to_be_visible()
    expect(tab.get_by_label("Webhook URL")).to_have_value(re.compile(r"/webhook/[^/]+/[^/]+$"))
    expect(tab.get_by_role("button", name="Copy")).to_be_visible()
    assert f"/stories/{story_id}?action=" in tab.url
    page.shoot("slack-webhook-panel")
    assert page.dialogs == [] and page.violations == []


def test_an_option_edited_badly_shows_the_error_naming_it_and_the_fix_is_saved(page: Page, demo: Demo) -> None:
    sign_in(page.tab, demo, then="/stories")
    path = f"edit-{uuid.uuid4().hex[:8]}"
    export = story(f"Editable {uuid.uuid4().hex[:6]}", [
        agent(WEBHOOK, "Receive", path=path, secret="s3cret-edit", verbs="post"),
        agent(TRANSFORM, "Shape", mode="message_only", payload={"seen": "{{.receive.body}}"}),
    ], [(0, 1)])
    import_story(page, pasted=json.dumps(export))
    tab = page.tab
    tab.locator("svg.graph a.action", has=tab.locator("title", has_text="Shape")).click()
    editor = tab.get_by_label("Options (JSON)")
    good = editor.input_value()
    editor.fill(good.replace('"message_only"', '"sideways"'))
    tab.get_by_role("button", name="Save").click()
    alert = tab.get_by_role("alert")
    expect(alert).to_contain_text("option mode")
    expect(alert).to_contain_text("sideways")
    expect(editor).to_have_value(re.compile('"sideways"'))
    page.shoot("edit-error")
    editor.fill(good.replace('"message_only"', '"message_only"').replace("{{.receive.body}}", "{{.receive.body.id}}"))
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_role("status")).to_have_text("Saved.")
    expect(tab.get_by_label("Options (JSON)")).to_have_value(re.compile(r"receive\.body\.id"))
    page.shoot("edit-saved")

    # Without a reload: the counts on the graph and the panel's recent events follow the runs.
    assert httpx.post(f"{demo.url}/webhook/{path}/s3cret-edit", json={"id": "live-1"}).status_code == 201
    shape = tab.locator("svg.graph a.action", has=tab.locator("title", has_text="Shape"))
    expect(shape.locator("text.count")).to_have_text("1 event in 24 h", timeout=LIVE_WITHIN)
    expect(tab.locator("svg.graph a.action", has=tab.locator("title", has_text="Receive")).locator("text.count")
           ).to_have_text("1 event in 24 h")
    expect(tab.locator(".recent-events li")).to_have_count(1, timeout=LIVE_WITHIN)
    expect(tab.locator(".recent-events pre").first).to_contain_text("live-1", use_inner_text=False)
    page.shoot("edit-live")
    assert page.dialogs == [] and page.violations == []


def hostile_story() -> dict[str, Any]:
    script, img, svg = HOSTILE
    return story(f"{script} {uuid.uuid4().hex[:6]}", [
        agent(WEBHOOK, script, path=f"hostile-{uuid.uuid4().hex[:8]}", secret="s3cret-hostile", verbs="post"),
        agent(TRANSFORM, img, mode="message_only", payload={"x": svg}),
        agent(TRANSFORM, svg, mode="message_only", payload={}),
    ], [(0, 1), (1, 2)], diagram_notes=[{"content": note, "position": [0, -200]} for note in HOSTILE])


def test_hostile_action_names_and_notes_stay_inert_on_the_graph(page: Page, demo: Demo) -> None:
    sign_in(page.tab, demo, then="/stories")
    story_id = import_story(page, pasted=json.dumps(hostile_story()))
    tab = page.tab
    tab.goto(f"{demo.url}/stories/{story_id}")
    expect(tab.locator("svg.graph a.action")).to_have_count(3)
    for text in HOSTILE:
        expect(tab.locator("svg.graph text.name", has_text=text[:30]).first).to_be_attached()
        expect(tab.locator("svg.graph g.note tspan", has_text=text).first).to_be_attached()
    tab.locator("svg.graph a.action").nth(1).click()
    expect(tab.get_by_role("heading", name=HOSTILE[1])).to_be_visible()
    page.shoot("hostile-graph")
    injected = tab.evaluate("""() => ({
        images: document.querySelectorAll('img').length,
        scripts: Array.from(document.scripts, (s) => s.src),
        nestedSvg: document.querySelectorAll('svg svg').length,
        handlers: Array.from(document.querySelectorAll('*')).filter(
            (el) => Array.from(el.attributes).some((a) => a.name.startsWith('on'))).length,
    })""")
    assert injected == {"images": 0, "scripts": [f"{demo.url}/static/console.js"], "nestedSvg": 0, "handlers": 0}
    assert page.dialogs == [] and page.violations == []


def test_the_largest_corpus_story_draws_in_under_a_second(page: Page, demo: Demo, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    largest = largest_corpus_story()
    actions = len(json.loads(largest.read_text())["agents"])
    sign_in(page.tab, demo, then="/stories")
    story_id = import_story(page, file=largest)
    url = f"{page.tab.url.split('/stories')[0]}/stories/{story_id}"
    milliseconds_to_draw(page, url)  # a first visit warms the server's caches
    drawn = sorted(milliseconds_to_draw(page, url) for _ in range(5))
    expect(page.tab.locator("svg.graph a.action")).to_have_count(actions)
    page.shoot("largest-graph")
    with capsys.disabled():
        print(f"\n{largest.name} ({actions} actions) drawn in Chromium in {drawn[2]:.0f} ms "
              f"(median of 5; {drawn[0]:.0f}-{drawn[-1]:.0f} ms)")
    assert drawn[2] < DRAWN_WITHIN_MS
    assert page.dialogs == [] and page.violations == []

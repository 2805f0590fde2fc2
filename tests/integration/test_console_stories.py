"""/stories and /stories/{id} over HTTP, signed in as each role: what each may see and do."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from storyline.store import activity
from storyline.store import tables as t
from storyline.store.db import make_engine, upgrade
from tests.builders import TRANSFORM, WEBHOOK, agent, story
from tests.signin import USERS, Browser, browser_on

HOOK_SECRET = "console-hook-secret-0123456789"


def hooked() -> dict[str, Any]:
    return story("Console hook", [
        agent(WEBHOOK, "Receive alert", path="console-hook", secret=HOOK_SECRET, verbs="post"),
        agent(TRANSFORM, "Shape it", mode="message_only", payload={"alert": "{{.receive_alert.id}}"}),
    ], [(0, 1)], diagram_layout=json.dumps({}), diagram_notes=[{"content": "Where alerts come in", "position": [0, -90]}])


@pytest.fixture
def site(database_url: str) -> Iterator[Browser]:
    with browser_on(database_url) as browser:
        yield browser


def sign_in(site: Browser, role: str) -> None:
    assert site.sign_in(USERS[role]).status_code == 303


def upload(site: Browser, export: dict[str, Any], **fields: str) -> httpx.Response:
    return site.client.post("/stories/import", data={"csrf_token": site.csrf(), **fields},
                            files={"file": ("story.json", json.dumps(export).encode(), "application/json")},
                            follow_redirects=False)


def imported(site: Browser, export: dict[str, Any]) -> int:
    """Check, then confirm, as an editor would; the new story's id."""
    check = upload(site, export)
    assert check.status_code == 200, check.text
    confirm = site.client.post("/stories/import", data={
        "csrf_token": site.csrf(), "confirm": "yes", "mode": "new", "pasted": json.dumps(export)},
        follow_redirects=False)
    assert confirm.status_code == 303, confirm.text
    found = re.fullmatch(r"/stories/(\d+)\?imported=1", confirm.headers["location"])
    assert found is not None
    return int(found.group(1))


def action_ids(site: Browser, story_id: int) -> dict[str, int]:
    page = site.client.get(f"/stories/{story_id}").text
    return {name: int(number) for number, name in re.findall(r'data-action="(\d+)" aria-label="([^":]+):', page)}


def test_anonymous_visitors_are_sent_to_sign_in(site: Browser) -> None:
    for path in ("/stories", "/stories/1", "/stories/1/export", "/stories/1/live"):
        answer = site.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=%2Fstories"), path


def test_an_import_shows_the_check_first_and_writes_only_when_confirmed(site: Browser) -> None:
    sign_in(site, "editor")
    export = hooked()
    check = upload(site, export)
    assert check.status_code == 200
    assert "tines check" in check.text and "2 of 2 actions run as they do in Tines" in check.text
    assert "Console hook" not in site.client.get("/stories").text.split("Import a story")[0]
    story_id = imported(site, export)
    listing = site.client.get("/stories").text
    assert f'<a href="/stories/{story_id}">Console hook</a>' in listing
    again = upload(site, export)
    assert "already imported as" in again.text and 'value="versionReplace" checked' in again.text


def test_an_export_that_would_not_import_shows_each_problem_and_no_import_button(site: Browser) -> None:
    sign_in(site, "editor")
    broken = story("Broken", [agent(TRANSFORM, "Bad mode", mode="no-such-mode")], [])
    check = upload(site, broken)
    assert check.status_code == 422
    assert "Bad mode" in check.text and "<code>mode</code>" in check.text
    assert 'name="confirm"' not in check.text
    assert upload(site, {"not": "json"} | {}).status_code == 422
    nonsense = site.client.post("/stories/import", data={"csrf_token": site.csrf(), "pasted": "{nope"})
    assert nonsense.status_code == 422 and "This is not JSON" in nonsense.text


def test_the_graph_draws_every_action_its_links_and_the_notes(site: Browser) -> None:
    sign_in(site, "editor")
    story_id = imported(site, hooked())
    page = site.client.get(f"/stories/{story_id}")
    assert page.status_code == 200
    assert set(action_ids(site, story_id)) == {"Receive alert", "Shape it"}
    assert page.text.count('marker-end="url(#arrow)"') == 1
    assert "Where alerts come in" in page.text and "laid out in layers" in page.text
    assert "<script>" not in page.text and "style=" not in page.text


def test_counts_come_from_the_events_and_runs_of_the_last_day(site: Browser) -> None:
    sign_in(site, "editor")
    story_id = imported(site, hooked())
    for number in range(3):
        assert site.client.post(f"/webhook/console-hook/{HOOK_SECRET}", json={"id": number}).status_code == 201
    ids = action_ids(site, story_id)
    live = site.client.get(f"/stories/{story_id}/live", headers={"accept": "application/json"}).json()
    assert live["actions"][str(ids["Receive alert"])] == {"events": 3, "failed": False}
    row = re.search(rf'<a href="/stories/{story_id}">Console hook</a>.*?</tr>', site.client.get("/stories").text,
                    re.DOTALL)
    assert row is not None
    assert re.findall(r'<td class="num">(\d+)</td>', row.group(0)) == ["2", "3", "0"]  # actions, runs, failed runs


def test_an_action_whose_last_run_failed_is_marked_and_its_run_counts_as_failed(site: Browser) -> None:
    sign_in(site, "editor")
    story_id = imported(site, hooked())
    assert site.client.post(f"/webhook/console-hook/{HOOK_SECRET}", json={"id": 1}).status_code == 201
    shape = action_ids(site, story_id)["Shape it"]
    engine = make_engine(site.database_url)
    with engine.begin() as conn:  # what the worker leaves when the job fails for good
        run = conn.execute(sa.select(t.story_runs.c.guid)).scalar_one()
        conn.execute(t.jobs.update().where(t.jobs.c.action_id == shape).values(
            status="failed", error="boom", finished_at=time.time()))
    engine.dispose()
    live = site.client.get(f"/stories/{story_id}/live", headers={"accept": "application/json"}).json()
    assert live["actions"][str(shape)]["failed"] is True
    page = site.client.get(f"/stories/{story_id}").text
    assert re.search(rf'class="action failed"\s*data-action="{shape}"', page)
    listing = site.client.get("/stories").text
    assert re.search(rf'<a href="/stories/{story_id}">Console hook</a>.*?<td class="num failed">1</td>', listing,
                     re.DOTALL), run


def test_a_bad_option_is_refused_with_its_name_and_a_good_one_is_saved_and_audited(site: Browser) -> None:
    sign_in(site, "editor")
    story_id = imported(site, hooked())
    shape = action_ids(site, story_id)["Shape it"]
    url = f"/stories/{story_id}/actions/{shape}"
    bad = site.client.post(url, data={"csrf_token": site.csrf(), "options": json.dumps({"mode": "sideways"})})
    assert bad.status_code == 422
    assert "option <code>mode</code>" in bad.text and "sideways" in bad.text
    assert 'aria-invalid="true"' in bad.text
    not_json = site.client.post(url, data={"csrf_token": site.csrf(), "options": "{\"mode\": "})
    assert not_json.status_code == 422 and "not JSON" in not_json.text
    good = site.client.post(url, data={"csrf_token": site.csrf(),
                                       "options": json.dumps({"mode": "message_only", "payload": {"ok": 1}})},
                            follow_redirects=False)
    assert good.status_code == 303 and "saved=1" in good.headers["location"]
    panel = site.client.get(good.headers["location"]).text
    assert "Saved." in panel and "&#34;ok&#34;: 1" in panel
    engine = make_engine(site.database_url)
    with engine.connect() as conn:
        kinds = [row.action for row in conn.execute(sa.select(t.audit_log.c.action))]
    engine.dispose()
    assert "action.update" in kinds and "story.import" in kinds


def test_a_viewer_sees_the_graph_but_cannot_export_edit_or_read_webhook_secrets(site: Browser) -> None:
    sign_in(site, "editor")
    story_id = imported(site, hooked())
    ids = action_ids(site, story_id)
    editor_panel = site.client.get(f"/stories/{story_id}", params={"action": ids["Receive alert"]}).text
    assert HOOK_SECRET in editor_panel and 'data-copy="webhook-url"' in editor_panel
    sign_in(site, "viewer")
    panel = site.client.get(f"/stories/{story_id}", params={"action": ids["Receive alert"]})
    assert panel.status_code == 200 and "Receive alert" in panel.text
    assert HOOK_SECRET not in panel.text and "webhook-url" not in panel.text
    assert "<textarea" not in panel.text and "/export" not in panel.text
    assert site.client.get(f"/stories/{story_id}/export").status_code == 403
    edit = site.client.post(f"/stories/{story_id}/actions/{ids['Shape it']}",
                            data={"csrf_token": site.csrf(), "options": "{}"})
    assert edit.status_code == 403
    assert upload(site, hooked()).status_code == 403
    assert HOOK_SECRET not in site.client.get("/stories").text


def test_an_editor_downloads_the_export_with_its_secrets(site: Browser) -> None:
    sign_in(site, "editor")
    story_id = imported(site, hooked())
    answer = site.client.get(f"/stories/{story_id}/export")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="Console-hook.json"'
    assert answer.json()["agents"][0]["options"]["secret"] == HOOK_SECRET


def test_an_action_of_another_story_is_not_found(site: Browser) -> None:
    sign_in(site, "editor")
    first = imported(site, hooked())
    second = imported(site, story("Other", [agent(TRANSFORM, "Lone", mode="message_only", payload={})], []))
    lone = action_ids(site, second)["Lone"]
    answer = site.client.post(f"/stories/{first}/actions/{lone}", data={"csrf_token": site.csrf(), "options": "{}"})
    assert answer.status_code == 404


def test_the_first_run_since_a_moment_is_found_by_bisection(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        story_id = conn.execute(t.stories.insert().values(guid="g", name="s", keep_events_for=60, created_at=0,
                                                          updated_at=0)).inserted_primary_key[0]
        for number in range(1, 200, 3):  # gaps between ids, as retention leaves them
            conn.execute(t.story_runs.insert().values(id=number, guid=f"run-{number}", story_id=story_id,
                                                      created_at=float(number * 10), expires_at=1e12))
    with engine.connect() as conn:
        assert activity.first_run_since(conn, 0.0) == 1
        assert activity.first_run_since(conn, 505.0) == 52
        assert activity.first_run_since(conn, 520.0) == 52
        assert activity.first_run_since(conn, 1990.0) == 199
        assert activity.first_run_since(conn, 1991.0) is None
    engine.dispose()

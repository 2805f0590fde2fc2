"""The console's runs, events and admin pages over HTTP: who may open and change what, and what never shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from storyline.store.db import make_engine
from storyline.store.event_search import Search, search_events
from tests.builders import TRANSFORM, WEBHOOK, agent, story
from tests.harness import load_stories
from tests.signin import USERS, Browser, browser_on, hidden

SECRET_VALUE = "sk-live-0123456789-never-shown"
HOSTILE = {"script": "<script>alert(1)</script>", "img": '"><img src=x onerror=alert(2)>',
           "svg": "<svg onload=alert(3)>", "link": "javascript:alert(4)",
           '<b onmouseover="alert(5)">key</b>': "value"}
READ_BY_VIEWERS = ("/runs", "/events", "/resources", "/packs")
ADMINS_ONLY = ("/credentials", "/audit", "/users", "/tokens")


def tagging() -> dict[str, Any]:
    return story("Tagging", [
        agent(WEBHOOK, "Receive", path="receive", secret="s3cret", verbs="post"),
        agent(TRANSFORM, "Tag", mode="message_only", payload={"tag": "seen {{.receive.kind}}"}),
    ], [(0, 1)])


@pytest.fixture
def browser(database_url: str) -> Iterator[Browser]:
    load_stories(database_url, tagging())
    with browser_on(database_url) as browser:
        yield browser


def as_role(browser: Browser, role: str) -> Browser:
    assert browser.sign_in(USERS[role]).status_code == 303
    return browser


def deliver(browser: Browser, body: dict[str, Any]) -> None:
    # No worker runs here: the intake writes the run and its first event, the rest stays queued.
    assert browser.client.post("/webhook/receive/s3cret", json=body).status_code == 201


def newest_run(browser: Browser) -> str:
    found = re.search(r'href="/runs/([0-9a-f-]{36})"', browser.client.get("/runs").text)
    assert found is not None
    return found.group(1)


def test_viewers_read_runs_events_resources_and_packs_and_only_admins_open_the_rest(browser: Browser) -> None:
    anonymous = browser.client.get("/runs", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=%2Fruns"
    for role in ("viewer", "editor", "admin"):
        as_role(browser, role)
        for path in READ_BY_VIEWERS:
            assert browser.client.get(path).status_code == 200, (role, path)
        for path in ADMINS_ONLY:
            answer = browser.client.get(path)
            assert answer.status_code == (200 if role == "admin" else 403), (role, path)
            if role != "admin":
                assert "this needs the admin role" in answer.text


def test_only_admins_see_the_forms_that_change_resources_and_install_packs(browser: Browser) -> None:
    as_role(browser, "admin")
    token = browser.csrf()
    assert browser.client.post("/resources", data={"csrf_token": token, "name": "watchlist",
                                                   "value": '["evil.example"]'}).status_code == 200
    as_role(browser, "viewer")
    viewer_page = browser.client.get("/resources").text
    assert "evil.example" in viewer_page and "<textarea" not in viewer_page
    assert 'action="/packs/' not in browser.client.get("/packs").text
    refused = browser.client.post("/resources", data={"csrf_token": browser.csrf(), "name": "x", "value": "1"})
    assert refused.status_code == 403


def test_an_admin_sets_rotates_and_deletes_a_credential_and_its_value_shows_nowhere(browser: Browser) -> None:
    as_role(browser, "admin")
    token = browser.csrf()
    saved = browser.client.post("/credentials", data={"csrf_token": token, "name": "vt_key", "value": SECRET_VALUE,
                                                      "allowed_hosts": "www.virustotal.com"})
    assert saved.status_code == 200 and "Credential saved." in saved.text
    page = browser.client.get("/credentials").text
    assert "vt_key" in page and "www.virustotal.com" in page
    # A refused change is drawn again with the reason, and still without the value.
    refused = browser.client.post("/credentials", data={"csrf_token": token, "name": "bad name!",
                                                        "value": SECRET_VALUE + "-2"})
    assert refused.status_code == 422 and "name" in refused.text
    rotated = browser.client.post("/credentials", data={"csrf_token": token, "name": "vt_key",
                                                        "value": SECRET_VALUE + "-rotated"})
    assert rotated.status_code == 200
    shown = [saved.text, refused.text, rotated.text]
    shown += [browser.client.get(path).text for path in (*READ_BY_VIEWERS, *ADMINS_ONLY, "/credentials?name=vt_key")]
    credential_id = re.search(r'action="/credentials/(\d+)/delete"', page)
    assert credential_id is not None
    deleted = browser.client.post(f"/credentials/{credential_id.group(1)}/delete", data={"csrf_token": token})
    assert deleted.status_code == 200 and "Credential deleted." in deleted.text and "vt_key" not in deleted.text
    shown.append(browser.client.get("/audit").text)
    assert "credential.set" in shown[-1] and "credential.delete" in shown[-1]
    for text in shown:
        assert SECRET_VALUE not in text


def test_a_form_without_the_sessions_csrf_token_changes_nothing(browser: Browser) -> None:
    as_role(browser, "admin")
    for path, form in (("/credentials", {"name": "x", "value": "y"}), ("/tokens", {"name": "t", "role": "viewer"}),
                       ("/users", {"email": "new@example.com", "role": "viewer", "password": "x" * 16})):
        assert browser.client.post(path, data=form).status_code == 403
    assert "token-t" not in browser.client.get("/tokens").text


def test_a_new_token_is_shown_once_and_can_be_revoked(browser: Browser) -> None:
    as_role(browser, "admin")
    created = browser.client.post("/tokens", data={"csrf_token": browser.csrf(), "name": "ci-bot", "role": "viewer"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    token = re.search(r'value="(stl_[^"]+)"', created.text)
    assert token is not None
    listed = browser.client.get("/tokens").text
    assert "ci-bot" in listed and token.group(1) not in listed
    assert browser.client.get("/runs", headers={"authorization": f"Bearer {token.group(1)}"}).status_code == 200
    revoked = browser.client.post("/tokens/ci-bot/revoke", data={"csrf_token": browser.csrf()})
    assert revoked.status_code == 200 and "Token revoked." in revoked.text
    assert browser.client.get("/runs", headers={"authorization": f"Bearer {token.group(1)}",
                                                "accept": "application/json"}).status_code == 401


def test_an_admin_adds_a_viewer_changes_their_role_and_removes_them(browser: Browser) -> None:
    as_role(browser, "admin")
    token = browser.csrf()
    weak = browser.client.post("/users", data={"csrf_token": token, "email": "new@example.com", "role": "viewer",
                                               "password": "short"})
    assert weak.status_code == 422
    added = browser.client.post("/users", data={"csrf_token": token, "email": "new@example.com", "role": "viewer",
                                                "password": "a long enough passphrase"})
    assert added.status_code == 200 and "new@example.com" in added.text
    ids = re.findall(r'<td>([^<]+)</td><td>(viewer|editor|admin)</td>\s*<td><form method="post" action="/users/(\d+)"',
                     added.text)
    new_id = next(number for email, _, number in ids if email == "new@example.com")
    changed = browser.client.post(f"/users/{new_id}", data={"csrf_token": token, "role": "editor"})
    assert changed.status_code == 200 and "<td>new@example.com</td><td>editor</td>" in changed.text
    removed = browser.client.post(f"/users/{new_id}/delete", data={"csrf_token": token})
    assert removed.status_code == 200 and "new@example.com" not in removed.text


def test_hostile_event_data_is_drawn_as_text_on_the_run_and_events_pages(browser: Browser) -> None:
    deliver(browser, HOSTILE)
    as_role(browser, "viewer")
    run = browser.client.get(f"/runs/{newest_run(browser)}")
    events = browser.client.get("/events?text=onerror")
    for page in (run, events):
        assert page.status_code == 200
        body = page.text.split('<main id="main">', 1)[1]
        assert "<script" not in body and "<img" not in body and "<svg" not in body and "<b " not in body
        assert 'href="javascript' not in body and "onerror=alert" not in body.replace("onerror=alert(2)&gt;", "")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert 'data-path="{{.receive.script}}"' in run.text
    assert "{{.receive[&#34;&lt;b onmouseover=\\&#34;alert(5)\\&#34;&gt;key&lt;/b&gt;&#34;]}}" in run.text


def test_an_editor_re_emits_an_event_into_a_new_run_and_a_viewer_may_not(browser: Browser) -> None:
    deliver(browser, {"kind": "phish"})
    as_role(browser, "viewer")
    first = browser.client.get(f"/runs/{newest_run(browser)}")
    event_id = re.search(r'id="event-(\d+)"', first.text)
    assert event_id is not None and "Re-emit" not in first.text
    assert browser.client.post(f"/events/{event_id.group(1)}/reemit",
                               data={"csrf_token": browser.csrf()}).status_code == 403
    as_role(browser, "editor")
    again = browser.client.post(f"/events/{event_id.group(1)}/reemit", data={"csrf_token": browser.csrf()},
                                follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].endswith("?done=reemitted")
    new_run = browser.client.get(again.headers["location"])
    assert "Re-emitted: this is the new run." in new_run.text and "phish" in new_run.text
    assert browser.client.get("/events?text=phish").text.count('class="event"') == 2


def test_the_runs_stream_sends_new_runs_as_rows_and_ends_within_its_lifetime(browser: Browser) -> None:
    as_role(browser, "viewer")
    assert browser.client.get("/runs/stream").status_code == 406
    deliver(browser, {"kind": "live"})
    answer = browser.client.get("/runs/stream?after=0&seconds=1", headers={"accept": "text/event-stream"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert "event: runs\nid: 1\ndata: <tr data-id=\"1\"" in answer.text
    assert answer.text.endswith("event: end\ndata: \n\n")
    assert browser.client.get("/runs/stream?watch=1,x", headers={"accept": "text/event-stream"}).status_code == 422


def test_the_events_search_filters_and_refuses_bad_input_with_a_422(browser: Browser) -> None:
    deliver(browser, {"kind": "alpha"})
    deliver(browser, {"kind": "beta"})
    as_role(browser, "viewer")
    assert browser.client.get("/events?text=beta").text.count('class="event"') == 1
    assert browser.client.get("/events?text=%25").text.count('class="event"') == 0  # % is a character, not a wildcard
    assert browser.client.get("/events?story=1").text.count('class="event"') == 2
    assert browser.client.get("/events?since=2000-01-01T00:00&until=2000-01-02T00:00").text.count(
        'class="event"') == 0
    for bad in ("since=yesterday", "story=-1", "story=x", "cursor=nope", "text=" + "x" * 201,
                "since=2030-01-02T00:00&until=2030-01-01T00:00"):
        assert browser.client.get(f"/events?{bad}").status_code == 422, bad


def test_a_text_search_matches_ascii_letters_in_any_case(browser: Browser) -> None:
    deliver(browser, {"kind": "Evil-Example.COM"})
    as_role(browser, "viewer")
    assert browser.client.get("/events?text=evil-example.com").text.count('class="event"') == 1
    assert browser.client.get("/events?text=EVIL-example").text.count('class="event"') == 1


def test_a_text_search_reads_a_bounded_number_of_events_and_says_where_it_stopped(browser: Browser) -> None:
    for kind in ("needle", "hay", "hay", "hay", "hay"):
        deliver(browser, {"kind": kind})
    engine = make_engine(browser.database_url)
    try:
        with engine.connect() as conn:
            cut = search_events(conn, Search(text="needle"), before_id=None, limit=10, scan=3)
            assert cut.rows == [] and cut.scanned == 3 and cut.scanned_to == 3
            rest = search_events(conn, Search(text="needle"), before_id=cut.scanned_to, limit=10, scan=3)
            assert [row["payload"] for row in rest.rows] == [{"receive": {"kind": "needle"}}]
            assert rest.scanned_to is None
    finally:
        engine.dispose()


def test_the_csrf_field_the_run_page_carries_is_the_sessions(browser: Browser) -> None:
    deliver(browser, {"kind": "x"})
    as_role(browser, "editor")
    assert hidden(browser.client.get(f"/runs/{newest_run(browser)}").text, "csrf_token") == browser.csrf()

"""``/api/v1/actions``: read with Tines' fields, edited as an import checks, audited without values.

An edit reaches the running engine at once: the next request at a webhook sees the new options.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from storyline.accounts.audit import entries
from storyline.store.db import make_engine
from tests.apiclient import Api, api_on
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story

SECRET = "hook-secret-88aa"
SIGNING = "signing-secret-77bb"


def triage() -> dict[str, Any]:
    return story("Triage", [
        agent(WEBHOOK, "Receive", path="triage", secret=SECRET, response="queued",
              verification={"type": "hmac", "header": "x-sig", "secret": SIGNING}),
        agent(TRANSFORM, "Shape", mode="message_only", payload={"seen": "{{.receive}}"}),
        agent(HTTP, "Notify", url="https://chat.example.com/post", method="post"),
    ], [(0, 1), (1, 2)])


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url, triage(), story("Other", [agent(WEBHOOK, "Other hook", path="other")], [])) as api:
        yield api


def actions_of(api: Api, role: str = "editor") -> list[dict[str, Any]]:
    story_id = api.get("/api/v1/stories", "viewer").json()["stories"][0]["id"]
    return api.get(f"/api/v1/actions?story_id={story_id}", role).json()["agents"]


def by_name(api: Api, name: str, role: str = "editor") -> dict[str, Any]:
    return next(a for a in actions_of(api, role) if a["name"] == name)


def audit(api: Api) -> list[dict[str, Any]]:
    engine = make_engine(api.database_url)
    try:
        with engine.connect() as conn:
            return entries(conn, 1000)
    finally:
        engine.dispose()


def test_a_storys_actions_list_with_tines_fields_and_their_links(api: Api) -> None:
    receive, shape, notify = actions_of(api, "viewer")
    assert receive["type"] == "Agents::WebhookAgent" and receive["disabled"] is False and receive["guid"]
    assert receive["receivers"] == [shape["id"]] and shape["sources"] == [receive["id"]]
    assert notify["sources"] == [shape["id"]] and notify["receivers"] == []
    assert api.get(f"/api/v1/actions/{shape['id']}", "viewer").json() == shape
    assert api.get("/api/v1/actions/999999", "viewer").status_code == 404


def test_all_actions_page_by_cursor(api: Api) -> None:
    seen, url = [], "/api/v1/actions?per_page=2"
    while url:
        body = api.get(url, "viewer").json()
        seen += [a["id"] for a in body["agents"]]
        url = body["meta"]["next_page"]
    assert len(seen) == 4 and seen == sorted(seen)


def test_viewers_never_see_a_webhooks_secret_or_verification_secret_and_editors_do(api: Api) -> None:
    for path in ("/api/v1/actions", f"/api/v1/actions/{by_name(api, 'Receive')['id']}"):
        text = api.get(path, "viewer").text
        assert SECRET not in text and SIGNING not in text, path
    hidden = by_name(api, "Receive", "viewer")["options"]
    assert hidden["verification"]["type"] == "hmac" and hidden["verification"]["header"] == "x-sig"
    shown = by_name(api, "Receive", "editor")["options"]
    assert shown["secret"] == SECRET and shown["verification"]["secret"] == SIGNING


def test_an_edit_of_options_reaches_the_running_webhook_at_once(api: Api) -> None:
    receive = by_name(api, "Receive")
    options = {**receive["options"], "response": "on it", "verification": None}
    del options["verification"]
    answer = api.send("PUT", f"/api/v1/actions/{receive['id']}", "editor", json={"options": options})
    assert answer.status_code == 200, answer.text
    assert answer.json()["options"]["response"] == "on it"
    reply = api.client.post(f"/webhook/triage/{SECRET}", json={"n": 1})
    assert reply.text == "on it"


def test_a_bad_option_is_a_422_naming_the_action_and_option_and_changes_nothing(api: Api) -> None:
    notify = by_name(api, "Notify")
    answer = api.send("PUT", f"/api/v1/actions/{notify['id']}", "editor",
                      json={"options": {"url": "gopher://x", "method": "post"}})
    assert answer.status_code == 422
    assert [(p["action"], p["option"]) for p in answer.json()["detail"]] == [("Notify", "url")]
    assert by_name(api, "Notify")["options"] == notify["options"]
    assert not [e for e in audit(api) if e["action"] == "action.update"]


def test_a_webhook_path_of_another_story_is_a_409(api: Api) -> None:
    receive = by_name(api, "Receive")
    answer = api.send("PUT", f"/api/v1/actions/{receive['id']}", "editor",
                      json={"options": {**receive["options"], "path": "other"}})
    assert answer.status_code == 409 and "other" in answer.json()["error"]


def test_name_and_disabled_change_and_the_audit_names_changed_options_never_their_values(api: Api) -> None:
    notify = by_name(api, "Notify")
    body = {"name": "Notify chat", "disabled": True,
            "options": {**notify["options"], "headers": {"Authorization": "Bearer tok-secret-value-42"}}}
    answer = api.send("PUT", f"/api/v1/actions/{notify['id']}", "editor", json=body)
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert (changed["id"], changed["name"], changed["key"], changed["disabled"]) == (
        notify["id"], "Notify chat", "notify_chat", True)
    [entry] = [e for e in audit(api) if e["action"] == "action.update"]
    assert entry["actor"] == "token:test-editor"
    assert "'headers'" in entry["summary"] and "Notify chat" in entry["summary"] and "disabled" in entry["summary"]
    assert "tok-secret-value-42" not in str(entry)


@pytest.mark.parametrize("body", [{"schedule": []}, {"name": ""}, {"options": []}, {"disabled": "no"},
                                  {"name": "x" * 256}])
def test_fields_storyline_does_not_change_and_malformed_ones_are_a_422(api: Api, body: dict[str, Any]) -> None:
    notify = by_name(api, "Notify")
    assert api.send("PUT", f"/api/v1/actions/{notify['id']}", "editor", json=body).status_code == 422


def test_an_empty_edit_changes_nothing_and_is_not_audited(api: Api) -> None:
    notify = by_name(api, "Notify")
    assert api.send("PUT", f"/api/v1/actions/{notify['id']}", "editor", json={}).json() == notify
    assert not [e for e in audit(api) if e["action"] == "action.update"]

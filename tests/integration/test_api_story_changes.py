"""``/api/v1/stories``: import, export, enable and disable, delete — checked as `story import` checks, audited.

Each change answers what GET answers, is refused whole (nothing written) when it cannot be made,
and leaves an audit entry naming the token that made it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from storyline.accounts.audit import entries
from storyline.cli import app as cli_app
from storyline.store import tables as t
from storyline.store.db import make_engine
from tests.apiclient import Api, api_on
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story

SECRET = "hook-secret-4f1c"


def alert_story(name: str = "Alerts", path: str = "alerts") -> dict[str, Any]:
    return story(name, [agent(WEBHOOK, "Receive", path=path, secret=SECRET, response="thanks"),
                        agent(TRANSFORM, "Shape", mode="message_only", payload={"seen": "{{.receive}}"})],
                 [(0, 1)])


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url) as api:
        yield api


def stored(api: Api) -> tuple[int, int]:
    """(stories, audit entries): what a refused change must leave as it was."""
    engine = make_engine(api.database_url)
    try:
        with engine.connect() as conn:
            return (conn.execute(sa.select(sa.func.count()).select_from(t.stories)).scalar_one(),
                    len(entries(conn, 1000)))
    finally:
        engine.dispose()


def audit(api: Api) -> list[dict[str, Any]]:
    engine = make_engine(api.database_url)
    try:
        with engine.connect() as conn:
            return entries(conn, 1000)
    finally:
        engine.dispose()


def imported(api: Api, data: dict[str, Any], role: str = "editor", **body: Any) -> Any:
    return api.send("POST", "/api/v1/stories/import", role, json={"data": data, **body})


def test_an_editor_imports_a_tines_export_and_gets_the_story_as_get_answers_it(api: Api) -> None:
    answer = imported(api, alert_story(), new_name="Alerts (prod)", team_id=7)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["name"] == "Alerts (prod)" and created["actions_count"] == 2 and created["warnings"] == []
    again = api.get(f"/api/v1/stories/{created['id']}", "editor").json()
    assert {key: value for key, value in created.items() if key != "warnings"} == again
    [entry] = [e for e in audit(api) if e["action"] == "story.import"]
    assert entry["actor"] == "token:test-editor" and "2 actions" in entry["summary"]


def test_importing_a_story_already_there_is_a_409_naming_the_modes_and_writes_nothing(api: Api) -> None:
    data = alert_story()
    assert imported(api, data).status_code == 201
    before = stored(api)
    answer = imported(api, data)
    assert answer.status_code == 409
    assert "versionReplace" in answer.json()["error"] and "copy" in answer.json()["error"]
    assert stored(api) == before


def test_version_replace_updates_the_story_of_that_name_in_place_keeping_action_ids(api: Api) -> None:
    first = imported(api, alert_story()).json()
    actions_before = api.get(f"/api/v1/actions?story_id={first['id']}", "editor").json()["agents"]
    newer = alert_story()  # another guid: Tines replaces by name
    newer["agents"][0]["guid"] = actions_before[0]["guid"]
    newer["agents"][1]["options"]["payload"] = {"seen": "again"}
    answer = imported(api, newer, new_name="Alerts", mode="versionReplace")
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == first["id"]
    actions_after = api.get(f"/api/v1/actions?story_id={first['id']}", "editor").json()["agents"]
    assert actions_after[0]["id"] == actions_before[0]["id"]
    assert [a["options"].get("payload") for a in actions_after] == [None, {"seen": "again"}]
    assert any(e["summary"].startswith("replaced") for e in audit(api))


def test_copy_mode_imports_beside_the_original_with_fresh_guids_and_a_free_name(api: Api) -> None:
    data = alert_story()
    original = imported(api, data).json()
    answer = imported(api, data, mode="copy")
    assert answer.status_code == 201
    copy_ = answer.json()
    assert copy_["id"] != original["id"] and copy_["guid"] != original["guid"]
    assert copy_["name"] == "Alerts (copy)"
    assert any("another story" in warning for warning in copy_["warnings"])  # its webhook moved


def test_a_bad_option_is_a_422_naming_the_action_and_the_option_and_nothing_is_written(api: Api) -> None:
    data = story("Broken", [agent(HTTP, "Fetch", url="ftp://example.com", method="fetch")], [])
    before = stored(api)
    answer = imported(api, data)
    assert answer.status_code == 422
    problems = answer.json()["detail"]
    assert {(p["action"], p["option"]) for p in problems} == {("Fetch", "url"), ("Fetch", "method")}
    assert stored(api) == before


def test_the_command_line_refuses_the_same_export_with_the_same_problems(api: Api, tmp_path: Any) -> None:
    data = story("Broken", [agent(HTTP, "Fetch", url="ftp://example.com")], [])
    problems = imported(api, data).json()["detail"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli_app, ["story", "import", str(path), "--db", api.database_url])
    assert result.exit_code == 1
    for problem in problems:
        tail = problem["message"].split(": ", 1)[1]
        assert tail[:40] in " ".join(result.output.split()), result.output


def test_a_webhook_path_another_story_serves_is_a_409(api: Api) -> None:
    assert imported(api, alert_story("One", path="shared")).status_code == 201
    answer = imported(api, alert_story("Two", path="shared"))
    assert answer.status_code == 409 and "shared" in answer.json()["error"]


@pytest.mark.parametrize("body", [{}, {"data": []}, {"data": {"agents": "no"}}, {"data": {}, "mode": "merge"},
                                  {"data": {"name": "x", "agents": []}, "new_name": "n" * 300}])
def test_an_import_body_that_is_not_one_is_a_422(api: Api, body: dict[str, Any]) -> None:
    answer = api.send("POST", "/api/v1/stories/import", "editor", json=body)
    assert answer.status_code == 422, answer.text


def test_the_export_is_the_tines_json_for_editors_only_since_it_holds_webhook_secrets(api: Api) -> None:
    created = imported(api, alert_story()).json()
    assert api.get(f"/api/v1/stories/{created['id']}/export", "viewer").status_code == 403
    export = api.get(f"/api/v1/stories/{created['id']}/export", "editor").json()
    assert [a["name"] for a in export["agents"]] == ["Receive", "Shape"]
    assert export["agents"][0]["options"]["secret"] == SECRET
    again = copy.deepcopy(export)
    assert imported(api, again, mode="versionReplace").status_code == 200  # an export imports back


def test_editors_see_webhook_urls_with_secrets_and_viewers_never_see_a_secret(api: Api) -> None:
    created = imported(api, alert_story()).json()
    for path in (f"/api/v1/stories/{created['id']}", "/api/v1/stories", f"/api/v1/actions?story_id={created['id']}"):
        assert SECRET not in api.get(path, "viewer").text, path
    [hook] = api.get(f"/api/v1/stories/{created['id']}", "viewer").json()["webhooks"]
    assert hook["path"] == "alerts" and "url" not in hook
    [hook] = api.get(f"/api/v1/stories/{created['id']}", "editor").json()["webhooks"]
    assert hook["url"].endswith(f"/webhook/alerts/{SECRET}")


def test_disabling_a_story_stops_its_webhooks_and_enabling_it_starts_them_again(api: Api) -> None:
    created = imported(api, alert_story()).json()
    url = f"/webhook/alerts/{SECRET}"
    assert api.client.post(url, json={"n": 1}).status_code == 201
    answer = api.send("PUT", f"/api/v1/stories/{created['id']}", "editor", json={"disabled": True})
    assert answer.status_code == 200 and answer.json()["disabled"] is True
    assert api.get("/api/v1/stories", "viewer").json()["stories"][0]["disabled"] is True
    refused = api.client.post(url, json={"n": 2})
    assert refused.status_code == 403 and "disabled" in refused.json()["error"]
    assert api.client.post("/webhook/alerts/wrong", json={}).status_code == 404  # no secret, no news
    api.send("PUT", f"/api/v1/stories/{created['id']}", "editor", json={"disabled": False})
    assert api.client.post(url, json={"n": 3}).status_code == 201
    kinds = [e["action"] for e in audit(api)]
    assert "story.disable" in kinds and "story.enable" in kinds


@pytest.mark.parametrize("body", [{"name": "Renamed"}, {"disabled": "yes"}, {"disabled": 1}])
def test_a_story_update_other_than_disabled_is_a_422(api: Api, body: dict[str, Any]) -> None:
    created = imported(api, alert_story()).json()
    assert api.send("PUT", f"/api/v1/stories/{created['id']}", "editor", json=body).status_code == 422


def test_deleting_a_story_removes_it_and_its_webhook_and_is_audited(api: Api) -> None:
    created = imported(api, alert_story()).json()
    assert api.send("DELETE", f"/api/v1/stories/{created['id']}", "editor").status_code == 204
    assert api.get(f"/api/v1/stories/{created['id']}", "viewer").status_code == 404
    assert api.client.post(f"/webhook/alerts/{SECRET}", json={}).status_code == 404
    assert api.send("DELETE", f"/api/v1/stories/{created['id']}", "editor").status_code == 404
    [entry] = [e for e in audit(api) if e["action"] == "story.delete"]
    assert entry["actor"] == "token:test-editor" and "Alerts" in entry["target"]

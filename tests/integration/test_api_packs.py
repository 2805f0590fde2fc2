"""``/api/v1/packs``: anyone signed in lists the packs; an admin installs one, audited, and its webhooks answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyline.accounts.audit import entries
from storyline.store.db import make_engine
from tests.apiclient import Api, api_on


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url) as api:
        yield api


def test_a_viewer_lists_the_packs_with_the_credentials_their_stories_use(api: Api) -> None:
    [pack] = api.get("/api/v1/packs", "viewer").json()["packs"]
    assert pack["name"] == "security-chatbot" and "slack_bot_token" in pack["credentials"]
    assert pack["resources"]["chatbot_max_indicators"] == 10


def test_an_admin_installs_a_pack_once_and_a_second_install_skips_what_is_there(api: Api) -> None:
    done = api.send("POST", "/api/v1/packs/security-chatbot/install")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["stories_installed"] and body["already_installed"] == []
    assert "chatbot_max_indicators" in body["resources_set"]
    names = {story["name"] for story in api.get("/api/v1/stories?per_page=100").json()["stories"]}
    assert set(body["stories_installed"]) <= names
    again = api.send("POST", "/api/v1/packs/security-chatbot/install", json={"replace": False}).json()
    assert again["stories_installed"] == [] and set(again["already_installed"]) == set(body["stories_installed"])
    engine = make_engine(api.database_url)
    with engine.connect() as conn:
        audited = [(e["actor"], e["action"], e["target"]) for e in entries(conn) if e["action"] == "pack.install"]
    engine.dispose()
    assert audited == [("token:test-admin", "pack.install", "security-chatbot")] * 2


def test_an_unknown_pack_is_a_404_and_an_editor_may_not_install(api: Api) -> None:
    assert api.send("POST", "/api/v1/packs/nope/install").status_code == 404
    refused = api.send("POST", "/api/v1/packs/security-chatbot/install", "editor")
    assert refused.status_code == 403 and refused.json()["detail"]["role_needed"] == "admin"

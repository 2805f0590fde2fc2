"""``/api/v1/stories``: what a script reads about stories, paged, with the right role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apiclient import Api, api_on
from tests.builders import WEBHOOK, agent, story


def numbered(n: int) -> dict:
    return story(f"Story {n:02d}", [agent(WEBHOOK, "Hook", path=f"hook-{n}", secret=f"secret-{n}")], [])


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url, *(numbered(n) for n in range(5))) as api:
        yield api


def test_a_viewer_lists_stories_a_page_at_a_time_following_next_page(api: Api) -> None:
    seen, url = [], "/api/v1/stories?per_page=2"
    while url:
        answer = api.get(url, "viewer")
        assert answer.status_code == 200
        body = answer.json()
        assert len(body["stories"]) <= 2
        seen += [item["name"] for item in body["stories"]]
        url = body["meta"]["next_page"]
    assert seen == [f"Story {n:02d}" for n in range(5)]


def test_one_story_reads_by_id_with_tines_field_names_and_an_unknown_id_is_a_404(api: Api) -> None:
    first = api.get("/api/v1/stories", "viewer").json()["stories"][0]
    one = api.get(f"/api/v1/stories/{first['id']}", "viewer").json()
    assert one["name"] == "Story 00" and one["disabled"] is False and one["actions_count"] == 1
    missing = api.get("/api/v1/stories/999999", "viewer")
    assert missing.status_code == 404 and "no story" in missing.json()["error"]


def test_without_a_token_the_api_answers_401_and_with_a_revoked_one_too(api: Api) -> None:
    assert api.get("/api/v1/stories", None).status_code == 401
    bad = api.client.get("/api/v1/stories", headers={"authorization": "Bearer stl_" + "x" * 43})
    assert bad.status_code == 401 and "not valid" in bad.json()["error"]


def test_tines_legacy_token_header_is_accepted(api: Api) -> None:
    answer = api.client.get("/api/v1/stories", headers={"x-user-email": "someone@example.com",
                                                        "x-user-token": api.tokens["viewer"]})
    assert answer.status_code == 200


@pytest.mark.parametrize("cursor", ["garbage!", "InN0cmluZyI", "W10"])
def test_a_forged_cursor_is_a_422_naming_the_parameter(api: Api, cursor: str) -> None:
    answer = api.get(f"/api/v1/stories?cursor={cursor}")
    assert answer.status_code == 422 and answer.json()["detail"] == {"parameter": "cursor"}


def test_the_openapi_document_is_public_and_lists_the_stories_endpoints(api: Api) -> None:
    document = api.get("/api/v1/openapi.json", None).json()
    assert document["openapi"].startswith("3.1")
    assert "get" in document["paths"]["/api/v1/stories/{id}"]
    assert api.get("/api/v1/nope", None).status_code == 404

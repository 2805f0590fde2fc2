"""``/api/v1/global_resources``: Tines' resources API; viewers read, admins change, runs see changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apiclient import Api, api_on
from tests.builders import TRANSFORM, WEBHOOK, agent, story
from tests.support import eventually

RESOURCES = "/api/v1/global_resources"


def reader() -> dict:
    return story("Reads a resource", [
        agent(WEBHOOK, "Receive", path="read-resource", secret="s3cret", verbs="post"),
        agent(TRANSFORM, "Show", mode="message_only", payload={"seen": "{{ .RESOURCE.greeting | default: 'none' }}"}),
    ], [(0, 1)])


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url, reader(), worker=True) as api:
        yield api


def create(api: Api, **body: object) -> dict:
    answer = api.send("POST", RESOURCES, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_text_resource_is_created_read_and_listed_in_tines_shape(api: Api) -> None:
    made = create(api, name="greeting", value="hello", value_type="text", team_id=8)
    assert {k: made[k] for k in ("name", "value", "value_type", "slug")} == {
        "name": "greeting", "value": "hello", "value_type": "text", "slug": "greeting"}
    assert api.get(f"{RESOURCES}/{made['id']}", "viewer").json()["value"] == "hello"
    listed = api.get(RESOURCES, "viewer").json()
    assert [item["name"] for item in listed["global_resources"]] == ["greeting"]


def test_a_json_resource_answers_as_text_unless_typed_value_is_asked_for(api: Api) -> None:
    made = create(api, name="blocklist", value=["1.2.3.4", "5.6.7.8"])
    assert made["value_type"] == "json" and made["value"] == '["1.2.3.4","5.6.7.8"]'
    typed = api.get(f"{RESOURCES}/{made['id']}?typed_value=true", "viewer").json()
    assert typed["value"] == ["1.2.3.4", "5.6.7.8"]


@pytest.mark.parametrize(("value", "value_type", "stored", "kind"), [
    ('{"a": 1}', None, {"a": 1}, "json"),        # Tines: a JSON string becomes a JSON resource
    ('{"a": 1}', "text", '{"a": 1}', "text"),    # unless value_type says text
    ("plain", None, "plain", "text"),
    (42, None, 42, "json"),
    ([1, 2], "text", "[1,2]", "text"),
])
def test_value_and_value_type_decide_what_is_stored(api: Api, value: object, value_type: str | None,
                                                    stored: object, kind: str) -> None:
    made = create(api, name="r", value=value, **({"value_type": value_type} if value_type else {}))
    typed = api.get(f"{RESOURCES}/{made['id']}?typed_value=true").json()
    assert (typed["value"], typed["value_type"]) == (stored, kind)


def test_replace_changes_the_value_and_may_rename_and_delete_answers_204(api: Api) -> None:
    made = create(api, name="greynoise_blocklist", value="[]", value_type="json")
    replaced = api.send("PUT", f"{RESOURCES}/{made['id']}", json={"name": "greynoise_blocklist",
                                                                  "value": ["9.9.9.9"]})
    assert replaced.status_code == 200 and replaced.json()["value"] == '["9.9.9.9"]'
    renamed = api.send("PUT", f"{RESOURCES}/{made['id']}", json={"name": "blocklist", "value": "x"}).json()
    assert renamed["name"] == "blocklist" and renamed["id"] == made["id"]
    assert api.send("DELETE", f"{RESOURCES}/{made['id']}").status_code == 204
    assert api.get(f"{RESOURCES}/{made['id']}").status_code == 404


def test_a_taken_name_is_a_409_and_a_bad_one_a_422_naming_the_parameter(api: Api) -> None:
    first = create(api, name="one", value="1")
    create(api, name="two", value="2")
    taken = api.send("POST", RESOURCES, json={"name": "one", "value": "again"})
    assert taken.status_code == 409 and "PUT" in taken.json()["error"]
    clash = api.send("PUT", f"{RESOURCES}/{first['id']}", json={"name": "two", "value": "x"})
    assert clash.status_code == 409
    bad = api.send("POST", RESOURCES, json={"name": "has space", "value": "x"})
    assert bad.status_code == 422 and bad.json()["detail"] == {"parameter": "name"}
    not_json = api.send("POST", RESOURCES, json={"name": "j", "value": "nope", "value_type": "json"})
    assert not_json.status_code == 422 and not_json.json()["detail"] == {"parameter": "value"}
    huge = api.send("POST", RESOURCES, json={"name": "big", "value": "x" * (1024 * 1024 + 1)})
    assert huge.status_code == 422


def test_changes_are_audited_with_the_actor_and_never_the_value(api: Api) -> None:
    made = create(api, name="greeting", value="hello-audit")
    api.send("PUT", f"{RESOURCES}/{made['id']}", json={"value": "bye-audit"})
    api.send("DELETE", f"{RESOURCES}/{made['id']}")
    from storyline.accounts.audit import entries
    from storyline.store.db import make_engine

    engine = make_engine(api.database_url)
    with engine.connect() as conn:
        found = [(e["actor"], e["action"], e["target"], e["summary"]) for e in reversed(entries(conn))
                 if e["action"].startswith("resource.")]
    engine.dispose()
    assert found == [("token:test-admin", "resource.set", "greeting", "created (text)"),
                     ("token:test-admin", "resource.set", "greeting", "replaced (text)"),
                     ("token:test-admin", "resource.delete", "greeting", "deleted")]


def test_the_next_run_of_the_running_server_reads_the_new_value(api: Api) -> None:
    made = create(api, name="greeting", value="first")
    assert api.client.post("/webhook/read-resource/s3cret", json={}).is_success
    eventually(lambda: api.outputs("Show") == [{"seen": "first"}], what=lambda: api.outputs("Show"))
    api.send("PUT", f"{RESOURCES}/{made['id']}", json={"value": "second"})
    assert api.client.post("/webhook/read-resource/s3cret", json={}).is_success
    eventually(lambda: api.outputs("Show")[1:] == [{"seen": "second"}], what=lambda: api.outputs("Show"))


def test_viewers_read_but_only_admins_write(api: Api) -> None:
    for role in ("viewer", "editor"):
        answer = api.send("POST", RESOURCES, role, json={"name": "x", "value": "y"})
        assert answer.status_code == 403 and answer.json()["detail"]["role_needed"] == "admin"

"""``/api/v1/user_credentials``: admins set, rotate, list and delete credentials; nobody reads a value."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import load_credentials
from storyline.store.db import make_engine
from tests.apiclient import Api, api_on

SECRET = "tines-token-0123456789abcdef"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url) as api:
        yield api


def stored(api: Api) -> dict[str, dict]:
    engine = make_engine(api.database_url)
    try:
        with engine.connect() as conn:
            loaded = load_credentials(conn, Cipher.for_database(api.database_url))
    finally:
        engine.dispose()
    return {name: dict(credential.secret) for name, credential in loaded.items()}


def audit_rows(api: Api) -> list[tuple[str, str, str, str]]:
    engine = make_engine(api.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT actor, action, target, summary FROM audit_log ORDER BY id")).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def test_an_admin_sets_a_text_credential_with_tines_body_and_the_answer_has_no_value(api: Api) -> None:
    answer = api.send("POST", "/api/v1/user_credentials", json={
        "name": "tines_token", "mode": "TEXT", "value": SECRET, "team_id": 8, "read_access": "TEAM",
        "allowed_hosts": ["tenant.tines.io"]})
    assert answer.status_code == 201
    body = answer.json()
    assert body["name"] == "tines_token" and body["mode"] == "TEXT" and body["kind"] == "text"
    assert body["allowed_hosts"] == ["tenant.tines.io"] and body["last_used_at"] is None
    assert SECRET not in answer.text
    assert stored(api) == {"tines_token": {"value": SECRET}}


def test_posting_the_same_name_again_rotates_the_value_and_answers_200(api: Api) -> None:
    api.send("POST", "/api/v1/user_credentials", json={"name": "vt", "value": "first-value"})
    again = api.send("POST", "/api/v1/user_credentials", json={"name": "vt", "value": "second-value"})
    assert again.status_code == 200
    assert stored(api) == {"vt": {"value": "second-value"}}
    assert [row[1:] for row in audit_rows(api) if row[1].startswith("credential.")] == [
        ("credential.set", "vt", "created: text, allowed hosts any"),
        ("credential.set", "vt", "replaced: text, allowed hosts any")]
    assert all(row[0] == "token:test-admin" for row in audit_rows(api) if row[1] == "credential.set")


def test_an_oauth_client_credentials_credential_keeps_its_secret_write_only(api: Api) -> None:
    answer = api.send("POST", "/api/v1/user_credentials", json={
        "name": "graph", "mode": "OAUTH", "oauth_token_url": "https://login.example.com/token",
        "oauth_client_id": "app-id", "oauth_client_secret": "oauth-secret-4242", "oauth_scope": "read",
        "oauth_grant_type": "client_credentials"})
    assert answer.status_code == 201 and answer.json()["mode"] == "OAUTH"
    assert "oauth-secret-4242" not in answer.text
    assert stored(api) == {"graph": {"client_secret": "oauth-secret-4242"}}


def test_the_list_shows_names_kinds_hosts_and_times_a_page_at_a_time(api: Api) -> None:
    for n in range(3):
        api.send("POST", "/api/v1/user_credentials", json={"name": f"c{n}", "value": f"value-{n}-secret"})
    first = api.get("/api/v1/user_credentials?per_page=2").json()
    second = api.get(first["meta"]["next_page"]).json()
    names = [item["name"] for item in first["user_credentials"] + second["user_credentials"]]
    assert names == ["c0", "c1", "c2"] and second["meta"]["next_cursor"] is None
    assert set(first["user_credentials"][0]) == {"id", "name", "mode", "kind", "allowed_hosts", "created_at",
                                                 "updated_at", "last_used_at"}


@pytest.mark.parametrize("by", ["id", "name"])
def test_delete_by_id_or_name_answers_204_then_404(api: Api, by: str) -> None:
    made = api.send("POST", "/api/v1/user_credentials", json={"name": "gone", "value": "soon-deleted"}).json()
    ref = made[by]
    assert api.send("DELETE", f"/api/v1/user_credentials/{ref}").status_code == 204
    assert stored(api) == {}
    again = api.send("DELETE", f"/api/v1/user_credentials/{ref}")
    assert again.status_code == 404 and "no credential" in again.json()["error"]
    assert ("token:test-admin", "credential.delete", "gone", "deleted (text)") in audit_rows(api)


def test_a_credential_named_with_digits_is_deleted_by_id_first(api: Api) -> None:
    first = api.send("POST", "/api/v1/user_credentials", json={"name": "first", "value": "value-one"}).json()
    api.send("POST", "/api/v1/user_credentials", json={"name": str(first["id"]), "value": "value-two"})
    assert api.send("DELETE", f"/api/v1/user_credentials/{first['id']}").status_code == 204
    assert list(stored(api)) == [str(first["id"])]


@pytest.mark.parametrize(("body", "names"), [
    ({"name": "bad name", "value": "x-secret-value"}, "credential name"),
    ({"name": "ok", "value": ""}, "empty"),
    ({"name": "ok", "value": "line\nbreak-secret"}, "line break"),
    ({"name": "ok", "mode": "OAUTH", "oauth_token_url": "ftp://x", "oauth_client_id": "a",
      "oauth_client_secret": "b-secret-value"}, "http"),
    ({"name": "ok", "mode": "HTTP_REQUEST_AGENT", "http_request_options": {"url": "nope-secret-value"},
      "http_request_location_of_token": "body.token"}, "url"),
    ({"name": "ok", "mode": "JWT", "value": "x-secret-value"}, "mode"),
    ({"name": "ok", "value": "v-secret-value", "allowed_hosts": ["https://x.example.com/"]}, "allowed host"),
])
def test_a_bad_credential_is_a_422_naming_the_problem_without_the_value(api: Api, body: dict, names: str) -> None:
    answer = api.send("POST", "/api/v1/user_credentials", json=body)
    assert answer.status_code == 422, answer.text
    assert names in answer.text
    assert "secret-value" not in answer.text and "break-secret" not in answer.text
    assert stored(api) == {}


def test_viewers_and_editors_cannot_list_credentials(api: Api) -> None:
    for role in ("viewer", "editor"):
        answer = api.get("/api/v1/user_credentials", role)
        assert answer.status_code == 403 and answer.json()["detail"]["role_needed"] == "admin"

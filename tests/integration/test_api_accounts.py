"""``/api/v1/users``, ``/tokens`` and ``/audit_logs``: an admin manages who may act and reads what they did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apiclient import Api, api_on

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with api_on(database_url) as api:
        yield api


def test_an_admin_adds_changes_and_removes_a_user_by_address_or_id_and_each_change_is_audited(api: Api) -> None:
    added = api.send("POST", "/api/v1/users", json={"email": "Ana@Example.com", "role": "viewer",
                                                     "password": PASSWORD})
    assert added.status_code == 201, added.text
    ana = added.json()
    assert ana["email"] == "ana@example.com" and ana["role"] == "viewer" and ana["admin"] is False
    assert set(ana) == {"id", "email", "role", "admin", "created_at", "updated_at"}
    promoted = api.send("PUT", f"/api/v1/users/{ana['id']}", json={"role": "editor"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "editor"
    moved = api.send("PUT", "/api/v1/users/ANA@example.com", json={"password": PASSWORD + "!"})
    assert moved.status_code == 200
    assert [user["email"] for user in api.get("/api/v1/users").json()["users"]] == ["ana@example.com"]
    assert api.send("DELETE", "/api/v1/users/ana@example.com").status_code == 204
    assert api.get("/api/v1/users").json()["users"] == []
    entries = api.get("/api/v1/audit_logs?actor=token:test-admin").json()["audit_logs"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("user.remove", "ana@example.com"), ("user.set_password", "ana@example.com"),
        ("user.set_role", "ana@example.com"), ("user.add", "ana@example.com")]
    everything = " ".join(api.get(path).text for path in ("/api/v1/users", "/api/v1/audit_logs"))
    assert PASSWORD not in everything and "argon2" not in everything


@pytest.mark.parametrize(("body", "status", "named"), [
    ({"email": "bob@example.com", "role": "viewer", "password": "short"}, 422, {"field": "password"}),
    ({"email": "not an address", "role": "viewer", "password": PASSWORD}, 422, {"field": "email"}),
    ({"email": "bob@example.com", "role": "owner", "password": PASSWORD}, 422, None),
    ({"email": "bob@example.com", "role": "viewer"}, 422, None),
    ({"email": "bob@example.com", "role": "viewer", "password": PASSWORD, "admin": True}, 422, None),
])
def test_a_user_storyline_will_not_take_is_a_422_naming_what_is_wrong(api: Api, body: dict, status: int,
                                                                      named: dict | None) -> None:
    answer = api.send("POST", "/api/v1/users", json=body)
    assert answer.status_code == status, answer.text
    if named is not None:
        assert answer.json()["detail"] == named
    assert PASSWORD not in answer.text and "short" not in answer.text.replace("shorter", "")


def test_a_second_user_with_one_address_is_a_409_the_last_admin_stays_and_no_such_user_is_a_404(api: Api) -> None:
    body = {"email": "root@example.com", "role": "admin", "password": PASSWORD}
    assert api.send("POST", "/api/v1/users", json=body).status_code == 201
    assert api.send("POST", "/api/v1/users", json=body).status_code == 409
    demote = api.send("PUT", "/api/v1/users/root@example.com", json={"role": "viewer"})
    assert demote.status_code == 409 and "only admin" in demote.json()["error"]
    assert api.send("DELETE", "/api/v1/users/root@example.com").status_code == 409
    assert api.send("PUT", "/api/v1/users/root@example.com", json={}).status_code == 422
    for ref in ("nobody@example.com", "424242", str(2**80), "x"):
        assert api.send("DELETE", f"/api/v1/users/{ref}").status_code == 404


def test_a_token_is_answered_once_works_with_its_role_and_stops_when_revoked(api: Api) -> None:
    made = api.send("POST", "/api/v1/tokens", json={"name": "ci-bot", "role": "viewer"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("stl_") and made.json()["role"] == "viewer"
    as_bot = {"authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/stories", headers=as_bot).status_code == 200
    assert api.client.get("/api/v1/tokens", headers=as_bot).status_code == 403
    listed = api.get("/api/v1/tokens?per_page=2")
    names = [t["name"] for t in listed.json()["tokens"]]
    names += [t["name"] for t in api.get(listed.json()["meta"]["next_page"]).json()["tokens"]]
    assert names == ["ci-bot", "test-admin", "test-editor", "test-viewer"]
    assert token not in listed.text and all("hash" not in key for key in listed.json()["tokens"][0])
    assert api.send("POST", "/api/v1/tokens", json={"name": "ci-bot", "role": "admin"}).status_code == 409
    assert api.send("POST", "/api/v1/tokens", json={"name": "no spaces", "role": "admin"}).status_code == 422
    assert api.send("DELETE", "/api/v1/tokens/ci-bot").status_code == 204
    assert api.client.get("/api/v1/stories", headers=as_bot).status_code == 401
    assert api.send("DELETE", "/api/v1/tokens/ci-bot").status_code == 404
    entries = api.get("/api/v1/audit_logs").json()["audit_logs"]
    assert [e["action"] for e in entries[:2]] == ["token.revoke", "token.create"]
    assert all(token not in e["summary"] for e in entries)


def test_the_audit_log_pages_newest_first_and_filters_by_actor_and_action(api: Api) -> None:
    for n in range(3):
        api.send("POST", "/api/v1/tokens", json={"name": f"t{n}", "role": "viewer"})
    entries, url = [], "/api/v1/audit_logs?per_page=2&action=token.create"
    while url:
        body = api.get(url).json()
        entries += body["audit_logs"]
        url = body["meta"]["next_page"]
    assert [e["target"] for e in entries] == ["t2", "t1", "t0", "test-admin", "test-editor", "test-viewer"]
    assert {e["actor"] for e in entries[:3]} == {"token:test-admin"}
    assert api.get("/api/v1/audit_logs?actor=user:nobody@example.com").json()["audit_logs"] == []
    assert api.get("/api/v1/audit_logs?actor=%00").status_code == 422

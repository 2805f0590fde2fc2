"""Credentials and resources in running stories, on SQLite and PostgreSQL.

Stories keep their real URLs; egress overrides send them to local fakes (httpbin
echoes every request back, which is exactly the "upstream echoes the secret" case).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import sqlalchemy as sa

from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher, CredentialKeyError
from storyline.credentials.keys import new_key
from storyline.credentials.stored import (
    delete_credential,
    list_credentials,
    load_credentials,
    save_credential,
)
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.store.queries import list_logs
from storyline.store.resources import list_resources, load_resources, save_resource
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story
from tests.fakes.httpbin import FakeHttpbin
from tests.fakes.oauth import FakeOAuth
from tests.harness import Harness
from tests.support import eventually

BIN = "https://httpbin.example"
SECRET = "vt-api-key-0123456789"


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[FakeOAuth]:
    with FakeOAuth() as server:
        yield server


@pytest.fixture
def oauth(oauth_server: FakeOAuth) -> Iterator[FakeOAuth]:
    oauth_server.reset()
    oauth_server.expires_in = 3600
    yield oauth_server
    oauth_server.reset()


def harness(database_url: str, bin_server: FakeHttpbin, oauth: FakeOAuth | None = None) -> Harness:
    overrides = {"httpbin.example": bin_server.url, "api.example.com": bin_server.url}
    if oauth is not None:
        overrides.update({"login.example.com": oauth.url, "bot.example.com": oauth.url})
    return Harness(database_url, egress_overrides=overrides)


async def save(h: Harness, credential: creds.Credential) -> None:
    cipher = Cipher.for_database(h.settings.database_url)
    await h.service.db.write(lambda conn: save_credential(conn, cipher, credential, time.time()))
    await fresh(h)


async def fresh(h: Harness) -> None:
    """What serve picks up within a second, at once (as ``Harness.load`` does for stories)."""
    await h.service.db.read(lambda conn: h.service.runtime.vault.refresh(conn, force=True))


def http_story(**options: Any) -> dict[str, Any]:
    return story("Uses a credential", [
        agent(WEBHOOK, "Receive", path="cred", secret="s3cret", verbs="post"),
        agent(HTTP, "Call API", **options),
    ], [(0, 1)])


async def run(h: Harness, body: Any = None) -> list[dict[str, Any]]:
    ingested = await h.ingest("Receive", body or {"x": 1})
    await h.drain()
    return h.events(run=ingested.story_run)


def failed_errors(h: Harness) -> list[str]:
    return [job["error"] for job in h.jobs() if job["status"] == "failed"]


# -- the store -------------------------------------------------------------------------


def test_secret_parts_are_encrypted_and_listing_shows_no_values(database_url: str) -> None:
    from storyline.store.db import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    cipher = Cipher.for_database(database_url)
    with engine.begin() as conn:
        save_credential(conn, cipher, creds.text("vt", SECRET, allowed_hosts=["*.virustotal.com"]), 1.0)
        save_credential(conn, cipher, creds.oauth2(
            "teams", token_url="https://login.example.com/token", client_id="app", client_secret="oauth-secret-42"), 2.0)
        save_resource(conn, "blocklist", ["1.2.3.4"], 1.0)
        save_resource(conn, "greeting", "hello", 1.0)
    with engine.connect() as conn:
        raw = conn.execute(sa.select(t.credentials.c.secret, t.credentials.c.settings)).all()
        assert all(SECRET.encode() not in bytes(row.secret) and b"oauth-secret" not in bytes(row.secret)
                   for row in raw)
        listed = list_credentials(conn)
        assert listed == [{"name": "teams", "kind": "oauth2", "allowed_hosts": []},
                          {"name": "vt", "kind": "text", "allowed_hosts": ["*.virustotal.com"]}]
        loaded = load_credentials(conn, cipher)
        assert loaded["vt"].secret == {"value": SECRET}
        assert loaded["teams"].secret == {"client_secret": "oauth-secret-42"}
        assert loaded["teams"].settings["token_url"] == "https://login.example.com/token"
        assert load_resources(conn) == {"blocklist": ["1.2.3.4"], "greeting": "hello"}
        assert [r["name"] for r in list_resources(conn)] == ["blocklist", "greeting"]
    with engine.begin() as conn:
        save_credential(conn, cipher, creds.text("vt", "replaced-value"), 3.0)
        assert delete_credential(conn, "teams") and not delete_credential(conn, "teams")
    with engine.connect() as conn:
        assert {n: c.secret for n, c in load_credentials(conn, cipher).items()} == {
            "vt": {"value": "replaced-value"}}
    engine.dispose()


async def test_a_wrong_key_stops_startup_and_changes_nothing(
    database_url: str, bin_server: FakeHttpbin, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(database_url, bin_server) as h:
        await save(h, creds.text("vt", SECRET))
    with sa.create_engine(h.engine.url).connect() as conn:
        before = conn.execute(sa.select(t.credentials)).all()
    monkeypatch.setenv("STORYLINE_SECRET_KEY", new_key())
    with pytest.raises(CredentialKeyError, match="STORYLINE_SECRET_KEY does not match"):
        await harness(database_url, bin_server).__aenter__()
    engine = sa.create_engine(h.engine.url)
    with engine.begin() as conn, pytest.raises(CredentialKeyError):
        # Nor can a credential be added under the wrong key.
        save_credential(conn, Cipher.for_database(database_url), creds.text("new", "some-value"), 9.0)
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.credentials)).all() == before
    engine.dispose()


# -- stories ---------------------------------------------------------------------------


async def test_all_template_forms_send_the_value_and_events_show_only_its_name(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", SECRET))
        await h.load(http_story(
            url=f"{BIN}/anything?key=<<CREDENTIAL.vt>>", method="post", content_type="json",
            headers={"x-apikey": "{% credential vt %}"}, payload={"token": "{{.CREDENTIAL.vt}}"},
            log_error_on_status=["2xx"]))
        events = await run(h)
        [call] = httpbin.calls
        assert call.params["key"] == SECRET and call.headers["x-apikey"] == SECRET
        assert call.json() == {"token": SECRET}
        out = events[-1]["output"]
        # httpbin echoed the secret in its body: it is stored as the credential's name.
        assert out["body"]["headers"]["x-apikey"] == "[credential:vt]"
        assert out["body"]["json"] == {"token": "[credential:vt]"}
        assert out["body"]["args"] == {"key": "[credential:vt]"}
        with h.engine.connect() as conn:
            logs = list_logs(conn, limit=100)
        assert logs and all(SECRET not in row["message"] for row in logs)
        assert SECRET not in orjson.dumps(h.events()).decode()


async def test_an_echoed_secret_in_an_error_is_redacted(database_url: str, httpbin: FakeHttpbin) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", SECRET))
        httpbin.fail(500, body=f"bad key {SECRET}", times=None)
        await h.load(http_story(url=f"{BIN}/anything", method="get", fail_on_status="true",
                                headers={"x-apikey": "{% credential vt %}"}))
        await run(h)
        [error] = failed_errors(h)
        assert "[credential:vt]" in error and SECRET not in error


async def test_allowed_hosts_refuse_another_host_and_nothing_is_sent(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", SECRET, allowed_hosts=["api.example.com"]))
        await h.load(http_story(url=f"{BIN}/anything", method="get", headers={"x-apikey": "{% credential vt %}"}))
        await run(h)
        assert httpbin.calls == []
        [error] = failed_errors(h)
        assert "credential 'vt' may only be sent to api.example.com, not to 'httpbin.example'" in error
        # The allowed host is fine.
        await h.load(story("Allowed", [
            agent(WEBHOOK, "Receive ok", path="ok", secret="s3cret", verbs="post"),
            agent(HTTP, "Call allowed", url="https://api.example.com/anything", method="get",
                  headers={"x-apikey": "{% credential vt %}"}),
        ], [(0, 1)]))
        ingested = await h.ingest("Receive ok", {})
        await h.drain()
        assert h.events(run=ingested.story_run)[-1]["output"]["status"] == 200
        assert httpbin.calls[-1].headers["x-apikey"] == SECRET


def to_other_host(path: str) -> str:
    """api.example.com (where the credential may go) answering 302 to httpbin.example (where it may not)."""
    return f"https://api.example.com/redirect-to?url={quote(f'{BIN}{path}', safe='')}"


CARRIERS = {
    "header": {"headers": {"x-apikey": "{% credential vt %}"}},
    "basic_auth": {"basic_auth": ["svc", "{% credential vt %}"]},
    "query": {"payload": {"apikey": "{{ .CREDENTIAL.vt }}"}},
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
async def test_a_redirect_to_a_host_the_credential_is_not_allowed_on_is_refused_naming_both(
    database_url: str, httpbin: FakeHttpbin, carrier: str
) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", SECRET, allowed_hosts=["api.example.com"]))
        await h.load(http_story(url=to_other_host("/anything/leak"), method="get", **CARRIERS[carrier]))
        await run(h)
        assert [call.path for call in httpbin.calls] == ["/redirect-to"]
        [job] = [job for job in h.jobs() if job["status"] == "failed"]
        assert job["attempts"] == 1
        assert "credential 'vt' may only be sent to api.example.com, not to 'httpbin.example'" in job["error"]


async def test_an_oauth2_token_is_refused_on_a_redirect_to_a_host_it_is_not_allowed_on(
    database_url: str, httpbin: FakeHttpbin, oauth: FakeOAuth
) -> None:
    async with harness(database_url, httpbin, oauth) as h:
        await save(h, teams_credential(oauth, allowed_hosts=["api.example.com"]))
        await h.load(http_story(url=to_other_host("/anything/leak"), method="get",
                                headers={"x-token": "{{ .CREDENTIAL.bot }}"}))
        await run(h)
        assert [call.path for call in httpbin.calls] == ["/redirect-to"]
        [error] = failed_errors(h)
        assert "credential 'bot' may only be sent to api.example.com, not to 'httpbin.example'" in error


async def test_a_redirect_to_another_host_does_not_carry_the_credential(
    database_url: str, httpbin: FakeHttpbin, oauth: FakeOAuth
) -> None:
    async with harness(database_url, httpbin, oauth) as h:
        await save(h, creds.text("vt", SECRET))
        await save(h, teams_credential(oauth))
        await h.load(http_story(url=to_other_host("/anything/next"), method="get", payload={"apikey": "<<CREDENTIAL.vt>>"},
                                headers={"x-apikey": "{% credential vt %}", "x-token": "{{ .CREDENTIAL.bot }}",
                                         "x-story": "kept"}, basic_auth=["svc", "{% credential vt %}"]))
        events = await run(h)
        first, hop = httpbin.calls
        assert first.headers["x-apikey"] == SECRET and first.params["apikey"] == SECRET
        assert hop.path == "/anything/next" and hop.headers["x-story"] == "kept"
        assert not {"x-apikey", "x-token", "authorization"} & hop.headers.keys() and hop.query == ""
        assert events[-1]["output"]["status"] == 200


async def test_a_redirect_of_the_token_url_to_another_host_does_not_carry_the_client_secret(
    database_url: str, httpbin: FakeHttpbin, oauth: FakeOAuth
) -> None:
    # 307 keeps the method and the form body; the client secret's field is dropped on the way.
    token_url = f"https://api.example.com/redirect-to?status_code=307&url={quote('https://login.example.com/token')}"
    async with harness(database_url, httpbin, oauth) as h:
        await save(h, creds.oauth2("bot", token_url=token_url, client_id=oauth.client_id,
                                   client_secret=oauth.client_secret))
        await h.load(http_story(url="https://bot.example.com/api/me", method="get",
                                headers={"Authorization": "Bearer {{.CREDENTIAL.bot}}"}))
        await run(h)
        assert httpbin.calls[0].form()["client_secret"] == oauth.client_secret
        [token_call] = oauth.calls
        assert token_call.path == "/token" and token_call.form() == {
            "grant_type": "client_credentials", "client_id": oauth.client_id}
        [error] = failed_errors(h)
        assert error.startswith("credential 'bot': HTTP 401 from")


async def test_basic_auth_with_a_credential_is_stored_redacted(database_url: str, httpbin: FakeHttpbin) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("apikey", SECRET))
        await h.load(http_story(url=f"{BIN}/anything", method="get", basic_auth=["svc", "{% credential apikey %}"]))
        events = await run(h)
        assert httpbin.calls[0].headers["authorization"] == "Basic " + base64.b64encode(f"svc:{SECRET}".encode()).decode()
        assert events[-1]["output"]["body"]["headers"]["authorization"] == "Basic [credential:apikey]"


async def test_a_credential_with_a_line_break_fails_once_and_never_reaches_the_logs(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    # `credential set` refuses such a value now; one stored before that still meets a plain error.
    secret = "k3y\\with\\backslashes-0123\n"
    async with harness(database_url, httpbin) as h:
        await save(h, creds.Credential("vt", "text", {"value": secret}))
        await h.load(http_story(url=f"{BIN}/anything", method="get", headers={"x-apikey": "{% credential vt %}"}))
        await run(h)
        assert httpbin.calls == []
        [job] = [job for job in h.jobs() if job["status"] == "failed"]
        assert job["attempts"] == 1
        assert "header 'x-apikey' has a line break in its value" in job["error"]
        with h.engine.connect() as conn:
            recorded = [job["error"], *(row["message"] for row in list_logs(conn, limit=100))]
        assert all("k3y" not in text for text in recorded)


async def test_an_invalid_idna_host_fails_after_exactly_one_attempt(database_url: str, httpbin: FakeHttpbin) -> None:
    async with harness(database_url, httpbin) as h:
        await h.load(http_story(url="http://xn--echo.test/", method="get"))
        await run(h)
        [job] = [job for job in h.jobs() if job["status"] == "failed"]
        assert job["attempts"] == 1
        assert job["error"] == ("GET to xn--echo.test not sent: the URL's host 'xn--echo.test' is not a valid "
                                "internationalised domain name (IDNA); check the URL")


async def test_an_unknown_credential_fails_the_action_and_sends_nothing(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await h.load(http_story(url=f"{BIN}/anything", method="get", headers={"x": "{{.CREDENTIAL.nope}}"}))
        events = await run(h)
        assert [e["action"] for e in events] == ["Receive"]
        assert httpbin.calls == []
        [error] = failed_errors(h)
        assert "credential 'nope' is not defined" in error


async def test_resources_in_every_template_form(database_url: str, httpbin: FakeHttpbin) -> None:
    async with harness(database_url, httpbin) as h:
        await h.service.db.write(lambda conn: save_resource(conn, "settings", {"team": "soc", "n": 2}, time.time()))
        await h.service.db.write(lambda conn: save_resource(conn, "imap.example.com", "imap-host", time.time()))
        await fresh(h)
        await h.load(story("Resources", [
            agent(WEBHOOK, "Receive", path="res", secret="s3cret", verbs="post"),
            agent(TRANSFORM, "Build", mode="message_only", payload={
                "tag": "{% global_resource imap.example.com %}",
                "team": "{{.RESOURCE.settings.team}}",
                "pill": "<<RESOURCE.settings.n>>",
                "whole": "{{ .RESOURCE.settings | as_object }}",
            }),
            agent(TRANSFORM, "Missing", mode="message_only", payload={"x": "{{ .RESOURCE.absent }}"}),
        ], [(0, 1), (0, 2)]))
        events = await run(h)
        [built] = [e["output"] for e in events if e["action"] == "Build"]
        assert built == {"tag": "imap-host", "team": "soc", "pill": "2", "whole": {"team": "soc", "n": 2}}
        [error] = failed_errors(h)
        assert "resource 'absent' is not defined" in error


def test_a_webhook_response_may_use_resources_but_not_credentials(database_url: str) -> None:
    from starlette.testclient import TestClient

    from storyline.config import Settings
    from storyline.store.db import make_engine, upgrade
    from storyline.store.stories import save_story
    from storyline.tines.importer import parse_story
    from storyline.web.app import create_app

    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        save_resource(conn, "jarm_list", ["aa11", "bb22"], time.time())
        save_credential(conn, Cipher.for_database(database_url), creds.text("vt", SECRET), time.time())
        for path, response in (("list", '{{.RESOURCE.jarm_list | join: ","}}'), ("leak", "{% credential vt %}")):
            save_story(conn, parse_story(story(path, [
                agent(WEBHOOK, f"Serve {path}", path=path, secret="s3cret", verbs="get", response=response)], []))[0],
                now=time.time())
    engine.dispose()
    with TestClient(create_app(Settings(database_url=database_url), worker=False)) as client:
        assert client.get("/webhook/list/s3cret").text == "aa11,bb22"
        leak = client.get("/webhook/leak/s3cret")
        assert leak.status_code == 500 and "credential 'vt' is not defined" in leak.text and SECRET not in leak.text


async def test_a_credential_changed_while_running_is_sent_by_the_very_next_run(
    database_url: str, httpbin: FakeHttpbin
) -> None:
    async with harness(database_url, httpbin) as h:
        await save(h, creds.text("vt", SECRET))
        await h.load(http_story(url=f"{BIN}/anything", method="get", headers={"x-apikey": "{% credential vt %}"}))
        await run(h)
        cipher = Cipher.for_database(h.settings.database_url)
        rotated = creds.text("vt", "rotated-key-9876")
        await h.service.db.write(lambda conn: save_credential(conn, cipher, rotated, time.time()))
        events = await run(h)
        assert [c.headers["x-apikey"] for c in httpbin.calls] == [SECRET, "rotated-key-9876"]
        assert events[-1]["output"]["body"]["headers"]["x-apikey"] == "[credential:vt]"


async def test_a_resource_set_just_before_a_webhook_is_what_that_runs_first_action_reads(database_url: str) -> None:
    """Each change commits on its own connection, as ``storyline resource set`` does; the webhook follows at once."""
    async with Harness(database_url) as h:
        await h.load(story("Reads a resource", [
            agent(WEBHOOK, "Receive", path="level", secret="s3cret", verbs="post"),
            agent(TRANSFORM, "Read", mode="message_only", payload={"level": "{{ .RESOURCE.level }}"}),
            agent(WEBHOOK, "Answer", path="answer", secret="s3cret", verbs="post",
                  response="level {{ .RESOURCE.level }}"),
        ], [(0, 1)]))
        cli = make_engine(database_url)

        def resource_set(value: str) -> None:
            with cli.begin() as conn:
                save_resource(conn, "level", value, time.time())

        try:
            for level in ("low", "high", "critical"):
                resource_set(level)
                await h.post("level", "s3cret", {})
                await h.drain()
                assert h.events(action="Read")[-1]["output"] == {"level": level}
                resource_set(f"{level}!")
                reply = await h.post("answer", "s3cret", {})
                assert (reply.status, reply.content) == (201, f"level {level}!")
            assert failed_errors(h) == []
        finally:
            cli.dispose()


# -- tokens ----------------------------------------------------------------------------


def teams_credential(oauth: FakeOAuth, **extra: Any) -> creds.Credential:
    return creds.oauth2("bot", token_url="https://login.example.com/token", client_id=oauth.client_id,
                        client_secret=oauth.client_secret, scope="https://api.botframework.com/.default", **extra)


async def test_oauth2_token_is_fetched_once_cached_and_renewed_after_a_401(
    database_url: str, bin_server: FakeHttpbin, oauth: FakeOAuth
) -> None:
    async with harness(database_url, bin_server, oauth) as h:
        await save(h, teams_credential(oauth))
        await h.load(http_story(url="https://bot.example.com/api/me", method="get",
                                headers={"Authorization": "Bearer {{.CREDENTIAL.bot}}"}))
        first = await run(h)
        second = await run(h)
        assert oauth.issued == ["access-token-1-0123456789"]
        assert oauth.scopes == ["https://api.botframework.com/.default"]
        assert [e[-1]["output"]["body"] for e in (first, second)] == [{"ok": True, "token_number": 1}] * 2
        oauth.revoke()  # the server forgets the token before its expiry
        third = await run(h)
        assert third[-1]["output"]["status"] == 200
        assert third[-1]["output"]["body"] == {"ok": True, "token_number": 2}
        assert len(oauth.issued) == 2
        calls = [(c.path, c.headers.get("authorization", "")[-12:]) for c in oauth.calls]
        assert calls[-3:] == [("/api/me", "1-0123456789"), ("/token", ""), ("/api/me", "2-0123456789")]
        assert all(token not in orjson.dumps(h.events()).decode() for token in oauth.issued)


async def test_an_oauth2_token_is_renewed_before_it_expires(
    database_url: str, bin_server: FakeHttpbin, oauth: FakeOAuth
) -> None:
    oauth.expires_in = 1
    async with harness(database_url, bin_server, oauth) as h:
        await save(h, teams_credential(oauth))
        await h.load(http_story(url="https://bot.example.com/api/me", method="get",
                                headers={"Authorization": "Bearer <<CREDENTIAL.bot>>"}))
        await run(h)

        async def renewed() -> list[dict[str, Any]] | None:
            events = await run(h)  # the token is renewed a tenth of its life (0.1 s) before it expires
            return events if events[-1]["output"]["body"]["token_number"] == 2 else None

        await eventually(renewed, 10, "a run with a renewed token")
        paths = [c.path for c in oauth.calls]
        assert paths[:2] == ["/token", "/api/me"] and paths[-2:] == ["/token", "/api/me"]
        assert paths.count("/token") == 2  # renewed once, before it expired


async def test_a_wrong_client_secret_fails_the_action_naming_the_credential(
    database_url: str, bin_server: FakeHttpbin, oauth: FakeOAuth
) -> None:
    async with harness(database_url, bin_server, oauth) as h:
        await save(h, creds.oauth2("bot", token_url="https://login.example.com/token",
                                   client_id=oauth.client_id, client_secret="wrong-secret-value"))
        await h.load(http_story(url="https://bot.example.com/api/me", method="get",
                                headers={"Authorization": "Bearer {% credential bot %}"}))
        await run(h)
        [error] = failed_errors(h)
        assert error.startswith("credential 'bot': HTTP 401 from login.example.com")
        assert [c.path for c in oauth.calls] == ["/token"]


async def test_an_http_request_credential_takes_its_value_from_the_response(
    database_url: str, httpbin: FakeHttpbin, oauth: FakeOAuth
) -> None:
    async with harness(database_url, httpbin, oauth) as h:
        await save(h, creds.http_request(
            "session", options={"url": "https://login.example.com/login", "method": "post",
                                "content_type": "json", "payload": {"user": "svc", "password": oauth.password}},
            token_path="body.session.key", ttl=600))
        await h.load(http_story(url="https://httpbin.example/anything", method="get",
                                headers={"x-session": "{% credential session %}"}))
        await run(h)
        await run(h)
        assert oauth.issued == ["session-key-1-0123456789"]
        assert [c.headers["x-session"] for c in httpbin.calls] == ["session-key-1-0123456789"] * 2
        assert "session-key" not in orjson.dumps(h.events()).decode()


async def test_a_pure_action_using_a_token_waits_for_the_worker_to_fetch_it(
    database_url: str, bin_server: FakeHttpbin, oauth: FakeOAuth
) -> None:
    async with harness(database_url, bin_server, oauth) as h:
        await save(h, teams_credential(oauth))
        await h.load(story("Transform", [
            agent(WEBHOOK, "Receive", path="tr", secret="s3cret", verbs="post"),
            agent(TRANSFORM, "Header", mode="message_only", payload={"auth": "Bearer {{.CREDENTIAL.bot}}"}),
        ], [(0, 1)]))
        events = await run(h)
        assert events[-1]["output"] == {"auth": "Bearer [credential:bot]"}
        assert len(oauth.issued) == 1

"""The demo sandbox as the services it plays: VirusTotal v3, URLhaus, RDAP, Slack, Teams.

Requests go through ``Egress`` with the sandbox's own overrides, to the sandbox served
by a real HTTP server, exactly as a story's HTTP Request actions reach it under
``serve --demo``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from storyline import sandbox
from storyline.config import Settings
from storyline.egress.client import Egress
from storyline.standins.enrichment.virustotal import vt_url_id
from storyline.verdicts import verdict
from storyline.web.app import create_app
from tests.fakes.server import FakeServer

EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(Starlette(routes=sandbox.routes())) as running:
        yield running


@pytest.fixture
async def egress(server: FakeServer) -> AsyncIterator[Egress]:
    async with Egress(sandbox.overrides(server.url), timeout=5) as client:
        yield client


async def get_json(egress: Egress, url: str, **kwargs: object) -> tuple[int, object]:
    response = await egress.request("GET", url, **kwargs)  # type: ignore[arg-type]
    return response.status, response.json


VT = "https://www.virustotal.com/api/v3"


@pytest.mark.parametrize(
    ("path", "level"),
    [
        ("/domains/evil-example.com", "malicious"),
        ("/domains/example.com", "safe"),
        ("/ip_addresses/45.9.148.108", "malicious"),
        ("/ip_addresses/8.8.8.8", "safe"),
        (f"/urls/{vt_url_id('http://phish.example.org/login')}", "malicious"),
        (f"/files/{EICAR_MD5}", "malicious"),
    ],
)
async def test_virustotal_answers_every_kind(egress: Egress, path: str, level: str) -> None:
    status, body = await get_json(egress, VT + path, headers={"x-apikey": "any key at all"})
    assert status == 200
    assert verdict({"status": status, "headers": {}, "body": body}, "virustotal")["level"] == level


async def test_virustotal_wants_a_key_and_knows_unknowns(egress: Egress) -> None:
    status, body = await get_json(egress, f"{VT}/domains/evil-example.com")
    assert (status, body) == (401, {"error": {"code": "AuthenticationRequiredError",
                                              "message": "X-Apikey header is missing"}})
    status, body = await get_json(egress, f"{VT}/domains/unknown-thing.com", headers={"x-apikey": "k"})
    assert status == 404 and body["error"]["code"] == "NotFoundError"  # type: ignore[index]
    _, body = await get_json(egress, f"{VT}/files/{EICAR_MD5}", headers={"x-apikey": "k"})
    assert body["data"]["id"] == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"  # type: ignore[index]


@pytest.mark.parametrize(
    ("endpoint", "form", "query_status"),
    [
        ("host", {"host": "evil-example.com"}, "ok"),
        ("host", {"host": "example.com"}, "no_results"),
        ("url", {"url": "http://bad.example.org/x.exe"}, "ok"),
        ("payload", {"md5_hash": EICAR_MD5}, "ok"),
        ("host", {}, "invalid_host"),
    ],
)
async def test_urlhaus_endpoints(egress: Egress, endpoint: str, form: dict[str, str], query_status: str) -> None:
    response = await egress.request("POST", f"https://urlhaus-api.abuse.ch/v1/{endpoint}/", data=form,
                                    headers={"Auth-Key": "k"})
    assert response.status == 200 and response.json["query_status"] == query_status


async def test_urlhaus_wants_a_key(egress: Egress) -> None:
    response = await egress.request("POST", "https://urlhaus-api.abuse.ch/v1/host/", data={"host": "x.com"})
    assert response.status == 401


async def test_rdap_and_the_iana_bootstrap(egress: Egress) -> None:
    status, bootstrap = await get_json(egress, "https://data.iana.org/rdap/dns.json")
    [[tlds, [base]]] = bootstrap["services"]  # type: ignore[index]
    assert "com" in tlds and base == "https://rdap.org/"
    status, body = await get_json(egress, f"{base}domain/evil-example.com")
    assert status == 200 and body["ldhName"] == "EVIL-EXAMPLE.COM"  # type: ignore[index]
    assert (await get_json(egress, f"{base}domain/www.evil-example.com"))[0] == 404  # registries know registered names
    assert (await get_json(egress, f"{base}domain/unknown-domain.com"))[0] == 404


async def test_slack_posts_are_kept_for_the_console(egress: Egress, server: FakeServer) -> None:
    httpx.delete(f"{server.url}/_sandbox/messages")
    api = "https://slack.com/api"
    auth = {"authorization": "Bearer xoxb-anything"}
    denied = await egress.request("POST", f"{api}/chat.postMessage", json={"channel": "C1", "text": "hi"})
    assert denied.json == {"ok": False, "error": "not_authed"}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*evil-example.com*: malicious"}}]
    posted = await egress.request("POST", f"{api}/chat.postMessage", headers=auth,
                                  json={"channel": "C1", "text": "verdict", "blocks": blocks})
    assert posted.json["ok"] is True
    user = (await egress.request("GET", f"{api}/users.lookupByEmail?email=jane@example.com", headers=auth)).json
    assert user["ok"] and user["user"]["id"].startswith("U")
    missing = (await egress.request("GET", f"{api}/users.lookupByEmail?email=unknown@example.com", headers=auth)).json
    assert missing == {"ok": False, "error": "users_not_found"}
    dm = (await egress.request("POST", f"{api}/conversations.open", headers=auth, data={"users": user["user"]["id"]})).json
    assert dm["channel"]["id"].startswith("D")
    await egress.request("POST", "https://hooks.slack.com/commands/T1/2/secret", json={"text": "Looking up 1 domain"})
    await egress.request("POST", "https://hooks.slack.com/services/T1/B2/xyz", json={"text": "Alert!"})

    messages = httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]
    assert [(m["platform"], m["kind"], m.get("text")) for m in messages] == [
        ("slack", "message", "verdict"), ("slack", "response", "Looking up 1 domain"), ("slack", "webhook", "Alert!")]
    assert messages[0]["blocks"] == blocks and messages[0]["channel"] == "C1"
    assert messages[1]["path"] == "/commands/T1/2/secret"
    later = httpx.get(f"{server.url}/_sandbox/messages", params={"after": messages[1]["seq"]}).json()
    assert [m["text"] for m in later["messages"]] == ["Alert!"]


async def test_teams_replies_and_proactive_messages_are_kept(egress: Egress, server: FakeServer) -> None:
    httpx.delete(f"{server.url}/_sandbox/messages")
    token = await egress.request(
        "POST", "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "app", "client_secret": "s",
              "scope": "https://api.botframework.com/.default"})
    auth = {"authorization": f"Bearer {token.json['access_token']}"}
    connector = "https://smba.trafficmanager.net/amer/v3/conversations"
    assert (await egress.request("POST", f"{connector}/19:c/activities", json={"text": "x"})).status == 401
    member = (await egress.request("GET", f"{connector}/19:team/members/jane@example.com", headers=auth)).json
    created = (await egress.request("POST", connector, headers=auth,
                                    json={"members": [{"id": member["id"]}], "isGroup": False})).json
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}}
    await egress.request("POST", f"{connector}/{created['id']}/activities", headers=auth,
                         json={"type": "message", "text": "Was this you?", "attachments": [card]})
    await egress.request("POST", "https://prod-01.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke",
                         json={"type": "message", "attachments": [card]})
    messages = httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]
    assert [(m["platform"], m["kind"], m.get("conversation")) for m in messages] == [
        ("teams", "message", created["id"]), ("teams", "webhook", None)]
    assert messages[0]["attachments"] == [card] and messages[0]["text"] == "Was this you?"


def test_the_sandbox_is_served_only_in_demo_mode(tmp_path: object) -> None:
    def paths(settings: Settings) -> set[str]:
        return {getattr(route, "path", "") for route in create_app(settings).routes}

    plain = Settings(database_url="sqlite://")
    assert f"{sandbox.PREFIX}/messages" not in paths(plain)
    assert f"{sandbox.PREFIX}/messages" in paths(Settings(database_url="sqlite://", sandbox=True))

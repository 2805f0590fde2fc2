"""The offline sandbox of ``storyline serve --demo``: the outside services a chatbot story calls.

It serves the stand-ins (:mod:`storyline.standins`) under ``/_sandbox/<service>/`` on
storyline's own server, so VirusTotal (v3, and v2's domain report), URLhaus, RDAP (rdap.org
and IANA's bootstrap file), Slack and Microsoft's Bot Framework answer with no account and no network:
enrichment answers are canned and deterministic, chat posts are kept for
``GET /_sandbox/messages``, and the Bot Connector's keys are the ones ``storyline chat teams``
signs with. Stories are not changed to use it: ``serve --demo`` points the real host names
at it through egress overrides (:func:`overrides`), except hosts the user already overrode.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from storyline.credentials.cipher import Cipher
from storyline.standins import outbox
from storyline.standins.botframework import BotFramework, ConnectorKey, console_key_path
from storyline.standins.enrichment import Enrichment
from storyline.standins.slack import Slack

PREFIX = "/_sandbox"

HOSTS: dict[str, str] = {
    "www.virustotal.com": "virustotal",
    "urlhaus-api.abuse.ch": "urlhaus",
    "rdap.org": "rdap",
    "data.iana.org": "iana",
    "slack.com": "slack",
    "hooks.slack.com": "slack",
    "login.microsoftonline.com": "teams",
    "login.botframework.com": "teams",
    "smba.trafficmanager.net": "teams",
    "prod-01.westus.logic.azure.com": "teams",
}
"""Real host -> the sandbox service that plays it."""


def overrides(base_url: str) -> dict[str, str]:
    """Egress overrides sending every host of :data:`HOSTS` to the sandbox served at ``base_url``."""
    base = base_url.rstrip("/")
    return {host: f"{base}{PREFIX}/{service}" for host, service in HOSTS.items()}


def routes(kept: outbox.Outbox | None = None) -> list[BaseRoute]:
    """The sandbox's routes, to add to storyline's app; ``kept`` collects chat posts."""
    box = kept if kept is not None else outbox.Outbox()

    async def messages(request: Request) -> Response:
        if request.method == "DELETE":
            box.clear()
            return JSONResponse({"messages": []})
        try:
            after = int(request.query_params.get("after") or 0)
        except ValueError:
            return JSONResponse({"error": "after: must be a message number"}, status_code=400)
        return JSONResponse({"messages": box.after(after)})

    slack = Slack(open_directory=True, outbox=box)
    teams = BotFramework(key=lambda: ConnectorKey.load_or_create(console_key_path()), open_directory=True,
                         outbox=box)
    mounted = {**Enrichment().routes(), "slack": slack.routes(), "teams": teams.routes()}
    return [
        Route(outbox.PATH, messages, methods=["GET", "DELETE"]),
        *(Mount(f"{PREFIX}/{service}", routes=service_routes) for service, service_routes in mounted.items()),
    ]


DEMO_CREDENTIALS: dict[str, str] = {
    "slack_signing_secret": "demo-slack-signing-secret",
    "slack_bot_token": "xoxb-demo-token",
    "virustotal": "demo-virustotal-key",
    "urlhaus": "demo-urlhaus-key",
}
DEMO_RESOURCES: dict[str, str] = {"teams_app_id": "demo-teams-app"}


def configure_demo(conn: Connection, cipher: Cipher, now: float) -> list[str]:
    """Give the pack what it needs to answer in the demo, without touching what the user set.

    The sandbox accepts any key, so these values only have to exist; real ones set with
    ``storyline credential set`` are kept (and then reach the sandbox, never the real service,
    while ``--demo`` overrides the hosts)."""
    from storyline.credentials import model as creds
    from storyline.credentials.stored import load_credentials, save_credential
    from storyline.store.resources import load_resources, save_resource

    present = load_credentials(conn, cipher)
    wanted = [creds.text(name, value) for name, value in DEMO_CREDENTIALS.items()]
    wanted.append(creds.oauth2("teams_bot", token_url="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
                               client_id=DEMO_RESOURCES["teams_app_id"], client_secret="demo-teams-secret",
                               scope="https://api.botframework.com/.default"))
    added = []
    for credential in wanted:
        if credential.name not in present:
            save_credential(conn, cipher, credential, now)
            added.append(f"credential {credential.name}")
    resources = load_resources(conn)
    for name, value in DEMO_RESOURCES.items():
        if name not in resources:
            save_resource(conn, name, value, now)
            added.append(f"resource {name}")
    return added

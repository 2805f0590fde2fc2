"""Microsoft's side of a Teams bot: token endpoint, Bot Connector signing keys, conversations, roster.

One server plays every Microsoft host a bot talks to; point them all at ``.url``
(``hosts()`` gives the egress overrides):

* ``login.microsoftonline.com``: ``POST /{tenant}/oauth2/v2.0/token``, client-credentials grant
  for the bot's app id and secret, scope ``https://api.botframework.com/.default``.
* ``login.botframework.com``: the OpenID metadata and the JWKS with a test RSA key
  (``mint()`` signs activity tokens with it as the Bot Connector does; ``rotate()`` swaps it).
* ``prod-01.westus.logic.azure.com``: ``POST /workflows/...?sig=`` as a Teams Workflows webhook (202).
* ``smba.trafficmanager.net`` (any region prefix): ``POST /v3/conversations`` (create),
  ``POST .../v3/conversations/{id}/activities[/{activityId}]`` (send, reply), ``PUT`` (update),
  ``GET .../v3/conversations/{teamId}/members[/{id, e-mail or UPN}]`` (roster). These want a
  bearer token from the token endpoint, else 401.

``activities``, ``conversations`` and ``workflow_posts`` hold what the bot sent; ``calls`` every request.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.chat.teams_console import KEYS_PATH, OPENID_PATH, ConnectorKey, openid_configuration
from tests.fakes.server import ASGIApp, FakeServer

SERVICE_URL = "https://smba.trafficmanager.net/amer/"
TEAM_ID = "19:team-general@thread.tacv2"
TENANT_ID = "72f988bf-0000-0000-0000-000000000001"
SCOPE = "https://api.botframework.com/.default"
WORKFLOW_HOST = "prod-01.westus.logic.azure.com"
WORKFLOW_SIG = "workflow-sas-signature-77"
_CONNECTOR = re.compile(
    r"^(?P<base>.*?)/v3/conversations(?:/(?P<conversation>[^/]+)(?:/(?P<kind>activities|members)"
    r"(?:/(?P<item>[^/]+))?)?)?/?$")  # the 2019 stories end some URLs in "/"
_KEY = ConnectorKey.generate()  # RSA generation is slow; one key serves every fake unless rotated


class FakeBotFramework(FakeServer):
    rate_limit_body = {"error": {"code": "Throttled", "message": "Too many requests"}}

    def __init__(self, app_id: str = "bot-app-id-0001", app_secret: str = "bot-app-secret-42") -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.key = _KEY
        self.tokens: set[str] = set()
        self.members: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.conversations: list[dict[str, Any]] = []
        self.workflow_posts: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        super().__init__()

    def overrides(self) -> dict[str, str]:
        """Egress host overrides that send every Microsoft host a bot talks to here."""
        return {host: self.url for host in ("login.microsoftonline.com", "login.botframework.com",
                                            "smba.trafficmanager.net", WORKFLOW_HOST)}

    def reset(self) -> None:
        super().reset()
        self.activities.clear()
        self.conversations.clear()
        self.workflow_posts.clear()
        self.members.clear()

    def rotate(self) -> ConnectorKey:
        """Sign with (and publish only) a new key, as Microsoft does when it rolls its keys."""
        self.key = ConnectorKey.generate()
        return self.key

    def mint(self, service_url: str = SERVICE_URL, *, app_id: str | None = None, **claims: Any) -> str:
        return self.key.sign(self.app_id if app_id is None else app_id, service_url, **claims)

    def add_member(self, email: str, name: str = "", *, upn: str | None = None) -> dict[str, Any]:
        number = len(self.members) + 1
        member = {"id": f"29:member-{number}", "objectId": f"00000000-0000-0000-0000-{number:012d}",
                  "name": name or email.split("@")[0].title(), "email": email,
                  "userPrincipalName": upn or email, "tenantId": TENANT_ID, "userRole": "user"}
        self.members.append(member)
        return member

    def activity(self, text: str = "", *, service_url: str = SERVICE_URL, **fields: Any) -> dict[str, Any]:
        """A message activity as Teams delivers an @mention of the bot in a channel."""
        bot = {"id": f"28:{self.app_id}", "name": "Storyline"}
        mention = "<at>Storyline</at>"
        return {
            "type": "message", "id": f"1699{next(self._ids):09d}", "timestamp": "2026-01-01T12:00:00.000Z",
            "channelId": "msteams", "serviceUrl": service_url,
            "from": {"id": "29:user-jane", "name": "Jane Smith", "aadObjectId": "9d3e08f9-0000"},
            "recipient": bot,
            "conversation": {"id": f"{TEAM_ID};messageid=1481567603816", "conversationType": "channel",
                             "isGroup": True, "tenantId": TENANT_ID},
            "text": f"{mention} {text}" if text else "", "textFormat": "plain",
            "entities": [{"type": "mention", "mentioned": bot, "text": mention}],
            "channelData": {"tenant": {"id": TENANT_ID}, "team": {"id": TEAM_ID}},
            **fields,
        }

    def build_app(self) -> ASGIApp:
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if (form.get("client_id"), form.get("client_secret")) != (self.app_id, self.app_secret):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if form.get("scope") != SCOPE:
                return JSONResponse({"error": "invalid_scope"}, status_code=400)
            issued = f"bf-token-{len(self.tokens) + 1}-abcdef"
            self.tokens.add(issued)
            return JSONResponse({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                 "access_token": issued})

        async def openid(request: Request) -> Response:
            return JSONResponse(openid_configuration())

        async def keys(request: Request) -> Response:
            return JSONResponse(self.key.jwks())

        async def connector(request: Request) -> Response:
            match = _CONNECTOR.match(request.url.path)
            if match is None:
                return JSONResponse({"error": {"code": "NotFound"}}, status_code=404)
            auth = request.headers.get("authorization", "")
            if auth.removeprefix("Bearer ") not in self.tokens:
                return JSONResponse({"error": {"code": "Unauthorized", "message": "bad bearer token"}},
                                    status_code=401)
            conversation, kind, item = match["conversation"], match["kind"], match["item"]
            method = request.method
            if conversation is None and method == "POST":
                body = await request.json()
                created = {"id": f"a:conversation-{len(self.conversations) + 1}", **body}
                self.conversations.append(created)
                return JSONResponse({"id": created["id"]})
            if kind == "activities" and method in ("POST", "PUT"):
                sent = {"conversation": conversation, "reply_to": item if method == "POST" else None,
                        "updates": item if method == "PUT" else None, "activity": await request.json(),
                        "id": item if method == "PUT" else f"activity-{len(self.activities) + 1}"}
                self.activities.append(sent)
                return JSONResponse({"id": sent["id"]}, status_code=201 if method == "POST" else 200)
            if kind == "members" and method == "GET":
                if item is None:
                    return JSONResponse(self.members)
                wanted = item.lower()
                for member in self.members:
                    if wanted in (member["id"].lower(), member["email"].lower(),
                                  member["userPrincipalName"].lower(), member["objectId"]):
                        return JSONResponse(member)
                return JSONResponse({"error": {"code": "MemberNotFoundInConversation",
                                               "message": "The member was not found."}}, status_code=404)
            return JSONResponse({"error": {"code": "BadSyntax"}}, status_code=400)

        async def workflow(request: Request) -> Response:
            if request.query_params.get("sig") != WORKFLOW_SIG:
                return JSONResponse({"error": {"code": "DirectApiAuthorizationRequired"}}, status_code=401)
            self.workflow_posts.append(await request.json())
            return Response(status_code=202)

        return Starlette(routes=[
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/workflows/{rest:path}", workflow, methods=["POST"]),
            Route(OPENID_PATH, openid),
            Route(KEYS_PATH, keys),
            Route("/{rest:path}", connector, methods=["GET", "POST", "PUT"]),
        ])

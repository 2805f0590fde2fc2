"""Microsoft's side of a Teams bot: token endpoint, Bot Connector signing keys, conversations, roster.

One app plays every Microsoft host a bot talks to (point them all at it):

* ``login.microsoftonline.com``: ``POST /{tenant}/oauth2/v2.0/token``, the client-credentials grant
  with scope ``https://api.botframework.com/.default`` (for ``app_id``/``app_secret``, or any
  client when they are None).
* ``login.botframework.com``: the OpenID metadata and the JWKS of the key the Bot Connector signs
  activities with (:class:`ConnectorKey`; the console signs with the same one).
* ``prod-01.westus.logic.azure.com``: ``POST /workflows/...?sig=`` as a Teams Workflows webhook (202).
* ``smba.trafficmanager.net`` (any region prefix): ``POST /v3/conversations`` (create; one id per set
  of members, as the real one is idempotent), ``POST .../v3/conversations/{id}/activities[/{activityId}]``
  (send, reply), ``PUT`` (update), ``GET .../v3/conversations/{teamId}/members[/{id, e-mail or UPN}]``.
  These want a bearer token from the token endpoint, else 401. A trailing ``/`` is accepted, as
  Microsoft's routing does (the 2019 article stories end some URLs in one).

``activities``, ``conversations`` and ``workflow_posts`` hold what the bot sent, and the outbox
numbers it for ``/_sandbox/messages`` and the console. With ``open_directory`` every e-mail
address is a member (except ones containing ``unknown``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.standins.outbox import Outbox
from storyline.verifiers.teams import ALGORITHM, ISSUER

KEYS_PATH = "/v1/.well-known/keys"
OPENID_PATH = "/v1/.well-known/openidconfiguration"
SCOPE = "https://api.botframework.com/.default"
HOSTS = ("login.microsoftonline.com", "login.botframework.com", "smba.trafficmanager.net",
         "prod-01.westus.logic.azure.com")
"""Every Microsoft host a bot talks to, all played by one app."""

_CONNECTOR = re.compile(
    r"^(?P<base>.*?)/v3/conversations(?:/(?P<conversation>[^/]+)(?:/(?P<kind>activities|members)"
    r"(?:/(?P<item>[^/]+))?)?)?/?$")


class ConnectorKey:
    """An RSA key that signs activity tokens as the Bot Connector does, and its JWKS."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        public = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(public).digest()[:15]).decode()

    @classmethod
    def generate(cls) -> ConnectorKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, path: Path) -> ConnectorKey:
        """The same key across runs, so a server that cached it need not fetch the key set again."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return cls(key)
        made = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(made.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        path.chmod(0o600)
        return made

    def jwks(self, endorsements: tuple[str, ...] = ("msteams",)) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "endorsements": list(endorsements)}]}

    def sign(self, app_id: str, service_url: str, *, lifetime: float = 300, now: float | None = None,
             **claims: Any) -> str:
        """A token for an activity to ``app_id`` from ``service_url``; ``claims`` override or add any claim."""
        issued = time.time() if now is None else now
        payload = {"iss": ISSUER, "aud": app_id, "serviceurl": service_url, "nbf": int(issued),
                   "exp": int(issued + lifetime), **claims}
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


def openid_configuration() -> dict[str, Any]:
    """The metadata document as Microsoft serves it; egress overrides send its jwks_uri to the same place."""
    return {"issuer": ISSUER, "jwks_uri": f"https://login.botframework.com{KEYS_PATH}",
            "id_token_signing_alg_values_supported": [ALGORITHM]}


def channel_message(
    text: str, app_id: str, *, service_url: str, conversation: str, tenant_id: str, sender: Mapping[str, str],
    team_id: str | None = None, bot_name: str = "Storyline", value: Any = None, **fields: Any,
) -> dict[str, Any]:
    """A message activity as the Bot Connector delivers a channel @mention of the bot to it.

    With no ``text`` and a ``value`` it is an ``Action.Submit`` click instead (no mention).
    ``fields`` override or add any field (``replyToId``, ``type`` ...). The chat console and the
    test fakes both send what this builds, so the server sees one shape of activity.
    """
    bot = {"id": f"28:{app_id}", "name": bot_name}
    mention = f"<at>{bot_name}</at>"
    activity: dict[str, Any] = {
        "type": "message", "id": uuid.uuid4().hex, "channelId": "msteams", "serviceUrl": service_url,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "from": dict(sender), "recipient": bot,
        "conversation": {"id": conversation, "conversationType": "channel", "isGroup": True, "tenantId": tenant_id},
        "text": f"{mention} {text}" if text else "", "textFormat": "plain",
        "entities": [{"type": "mention", "mentioned": bot, "text": mention}] if text else [],
        "channelData": {"tenant": {"id": tenant_id}, **({"team": {"id": team_id}} if team_id else {})},
    }
    if value is not None:
        activity["value"] = value
    activity.update(fields)
    return activity


class BotFramework:
    """Microsoft's hosts for one bot: what it was sent, who is in the roster, which key signs."""

    def __init__(
        self, app_id: str | None = None, app_secret: str | None = None, *,
        key: ConnectorKey | Callable[[], ConnectorKey], workflow_sig: str | None = None,
        tenant_id: str = "", open_directory: bool = False, outbox: Outbox | None = None,
    ) -> None:
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.app_secret = app_secret
        self._key = key
        self.workflow_sig = workflow_sig
        self.open_directory = open_directory
        self.outbox = outbox if outbox is not None else Outbox()
        self.tokens: set[str] = set()
        self.members: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.conversations: list[dict[str, Any]] = []
        self.workflow_posts: list[dict[str, Any]] = []

    @property
    def key(self) -> ConnectorKey:
        """The signing key; one given as a callable is made on first use (RSA generation is slow)."""
        if not isinstance(self._key, ConnectorKey):
            self._key = self._key()
        return self._key

    @key.setter
    def key(self, key: ConnectorKey) -> None:
        self._key = key

    def add_member(self, email: str, name: str = "", *, upn: str | None = None,
                   id: str | None = None) -> dict[str, Any]:
        number = len(self.members) + 1
        member = {"id": id or f"29:member-{number}", "objectId": f"00000000-0000-0000-0000-{number:012d}",
                  "name": name or email.split("@")[0].title(), "email": email,
                  "userPrincipalName": upn or email, "tenantId": self.tenant_id, "userRole": "user"}
        self.members.append(member)
        return member

    def reset(self) -> None:
        self.activities.clear()
        self.conversations.clear()
        self.workflow_posts.clear()
        self.members.clear()
        self.outbox.clear()

    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/workflows/{rest:path}", self._workflow, methods=["POST"]),
            Route(OPENID_PATH, _json(openid_configuration)),
            Route(KEYS_PATH, _json(lambda: self.key.jwks())),
            Route("/{rest:path}", self._connector, methods=["GET", "POST", "PUT"]),
        ]

    def asgi(self) -> Starlette:
        return Starlette(routes=self.routes())

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        expected = (self.app_id, self.app_secret)
        given = (form.get("client_id"), form.get("client_secret"))
        if not given[0] or (self.app_id is not None and given != expected):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("scope") != SCOPE:
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        issued = f"bf-token-{len(self.tokens) + 1}-abcdef"
        self.tokens.add(issued)
        return JSONResponse({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                             "access_token": issued})

    async def _connector(self, request: Request) -> Response:
        match = _CONNECTOR.match(request.url.path)
        if match is None:
            return JSONResponse({"error": {"code": "NotFound"}}, status_code=404)
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return JSONResponse({"error": {"code": "Unauthorized", "message": "bad bearer token"}}, status_code=401)
        conversation, kind, item, method = match["conversation"], match["kind"], match["item"], request.method
        if conversation is None and method == "POST":
            return JSONResponse({"id": self._create_conversation(await request.json())})
        if kind == "activities" and method in ("POST", "PUT"):
            activity = await request.json()
            sent_id = item if method == "PUT" else f"activity-{len(self.activities) + 1}"
            self.activities.append({"conversation": conversation, "reply_to": item if method == "POST" else None,
                                    "updates": item if method == "PUT" else None, "activity": activity,
                                    "id": sent_id})
            said = activity if isinstance(activity, dict) else {}
            self.outbox.add("teams", "update" if method == "PUT" else "message", conversation=conversation,
                            id=sent_id, reply_to=item if method == "POST" else None,
                            text=said.get("text", ""), attachments=said.get("attachments", []))
            return JSONResponse({"id": sent_id}, status_code=201 if method == "POST" else 200)
        if kind == "members" and method == "GET":
            if item is None:
                return JSONResponse(self.members)
            member = self._member(item)
            if member is None:
                return JSONResponse({"error": {"code": "MemberNotFoundInConversation",
                                               "message": "The member was not found."}}, status_code=404)
            return JSONResponse(member)
        return JSONResponse({"error": {"code": "BadSyntax"}}, status_code=400)

    def _create_conversation(self, body: Any) -> str:
        members = body.get("members") if isinstance(body, dict) else None
        for created in self.conversations:
            if members and created.get("members") == members:
                return str(created["id"])
        created = {"id": f"a:conversation-{len(self.conversations) + 1}",
                   **(body if isinstance(body, dict) else {})}
        self.conversations.append(created)
        return str(created["id"])

    def _member(self, wanted: str) -> dict[str, Any] | None:
        wanted = wanted.lower()
        for member in self.members:
            if wanted in (member["id"].lower(), member["email"].lower(), member["userPrincipalName"].lower(),
                          member["objectId"]):
                return member
        if self.open_directory and "@" in wanted and "unknown" not in wanted:
            return self.add_member(wanted, id="29:" + hashlib.sha1(wanted.encode()).hexdigest()[:8].upper())
        return None

    async def _workflow(self, request: Request) -> Response:
        if self.workflow_sig is not None and request.query_params.get("sig") != self.workflow_sig:
            return JSONResponse({"error": {"code": "DirectApiAuthorizationRequired"}}, status_code=401)
        body = await request.json()
        self.workflow_posts.append(body)
        self.outbox.add("teams", "webhook", path=f"/workflows/{request.path_params['rest']}",
                        attachments=body.get("attachments", []) if isinstance(body, dict) else [], payload=body)
        return Response(status_code=202)


def _json(make: Callable[[], Any]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(make())

    return endpoint


def console_key_path() -> Path:
    """Where ``storyline chat teams`` and ``serve --demo`` keep the key the local Bot Connector signs with."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "storyline" / "teams-console-key.pem"


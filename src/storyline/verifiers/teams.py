"""Microsoft Teams activities at a webhook: ``verification: {"type": "teams", "app_id": ...}``.

The Bot Connector signs every activity it POSTs with a JWT (``Authorization: Bearer``)
made with one of Microsoft's published keys. A request is accepted only when all of
these hold (Microsoft's "connector to bot" rules, stricter where the SDKs are lax):

* RS256, signed by a key in the JWKS named by the OpenID metadata at
  ``login.botframework.com`` (fetched through egress, so host overrides reach a fake;
  cached, fetched again when a token names an unknown ``kid``);
* that key endorses the activity's ``channelId`` (when the key lists endorsements);
* issuer ``https://api.botframework.com``, audience the bot's app id, not expired
  and not before its time (5 minutes of clock skew);
* the token's ``serviceurl`` claim equals the activity's ``serviceUrl``, an https URL
  on a host of ``Settings.teams_service_hosts``: replies carry the bot token there,
  so a signed activity must not be able to send it anywhere else.

A verified activity reaches the story as the activity itself, with the bot's
``<at>`` mention taken out of ``text`` and the URLs a reply needs added
(``conversation_url``, ``reply_url``); Adaptive Card ``Action.Submit`` clicks keep
their ``value`` and ``invoke`` activities their ``name`` and ``value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import jwt

from storyline import jsondata
from storyline.config import TEAMS_SERVICE_HOSTS
from storyline.egress.errors import EgressError
from storyline.egress.guard import AllowList, classify
from storyline.hosts import parse_ip
from storyline.inbound import Fetcher, Inbound, Misconfigured, Render, Signed, VerificationFailed

OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
ISSUER = "https://api.botframework.com"
ALGORITHM = "RS256"
LEEWAY = 300
KEYS_TTL = 24 * 3600
"""Microsoft: the keys are "relatively stable"; botbuilder refreshes them daily."""
REFRESH_INTERVAL = 30.0
"""At most one fetch per this many seconds for unknown ``kid`` values, so forged tokens cannot make us hammer Microsoft."""


@dataclass
class KeySet:
    keys: dict[str, tuple[jwt.PyJWK, frozenset[str] | None]]
    fetched_at: float


class Keys:
    """Microsoft's signing keys, per place they really come from (``egress.resolve``: a fake in tests)."""

    def __init__(self) -> None:
        self._sets: dict[str, KeySet] = {}

    async def get(self, egress: Fetcher, kid: str, now: float) -> tuple[jwt.PyJWK, frozenset[str] | None]:
        source = egress.resolve(OPENID_URL)
        cached = self._sets.get(source)
        stale = cached is None or now - cached.fetched_at > KEYS_TTL
        if cached is not None and kid not in cached.keys and now - cached.fetched_at > REFRESH_INTERVAL:
            stale = True
        if stale:
            cached = self._sets[source] = KeySet(await _fetch(egress), now)
        assert cached is not None
        if kid not in cached.keys:
            raise VerificationFailed(f"token signing key kid={kid[:64]!r} is not one of Microsoft's Bot Framework keys")
        return cached.keys[kid]


async def _fetch(egress: Fetcher) -> dict[str, tuple[jwt.PyJWK, frozenset[str] | None]]:
    try:
        metadata = await egress.request("GET", OPENID_URL)
        jwks_uri = (metadata.json or {}).get("jwks_uri") if metadata.status == 200 else None
        if not isinstance(jwks_uri, str):
            raise Misconfigured(f"Bot Framework OpenID metadata at {OPENID_URL} answered {metadata.status} "
                              "without a jwks_uri")
        answer = await egress.request("GET", jwks_uri)
    except EgressError as exc:
        raise Misconfigured(f"cannot fetch the Bot Framework signing keys: {exc}") from exc
    listed = (answer.json or {}).get("keys") if answer.status == 200 else None
    if not isinstance(listed, list):
        raise Misconfigured(f"Bot Framework key set at {jwks_uri} answered {answer.status} without keys")
    keys = {}
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
            continue
        try:
            key = jwt.PyJWK(entry, ALGORITHM)
        except jwt.PyJWKError:
            continue
        endorsements = entry.get("endorsements")
        keys[str(entry["kid"])] = (key, frozenset(map(str, endorsements)) if isinstance(endorsements, list) else None)
    return keys


def _bearer(headers: Mapping[str, str]) -> str:
    auth = headers.get("authorization") or ""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise VerificationFailed("missing Authorization: Bearer token (a Bot Framework JWT)")
    return token.strip()


def _activity(body: bytes) -> dict[str, Any]:
    try:
        activity = jsondata.loads(body)
    except jsondata.JsonError:
        activity = None
    if not isinstance(activity, dict) or not isinstance(activity.get("serviceUrl"), str):
        raise VerificationFailed("body is not a Bot Framework activity (a JSON object with a serviceUrl)")
    return activity


def check_service_url(url: str, allowed: AllowList) -> None:
    """Refuse a serviceUrl the bot token must not be sent to: not https, internal, or not allow-listed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        raise VerificationFailed(f"serviceUrl {url[:80]!r} is not an https URL")
    address = parse_ip(host)
    why = classify(address) if address is not None else None
    if why is not None:
        raise VerificationFailed(f"serviceUrl host {host} is {why}")
    if not allowed.allows_host(host):
        raise VerificationFailed(f"serviceUrl host {host} is not a Bot Framework host "
                                 "(STORYLINE_TEAMS_SERVICE_HOSTS lists the allowed ones)")


def _claims(token: str, key: jwt.PyJWK, app_id: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, key, algorithms=[ALGORITHM], audience=app_id, issuer=ISSUER, leeway=LEEWAY,
                          options={"require": ["exp", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise VerificationFailed("token has expired") from None
    except jwt.ImmatureSignatureError:
        raise VerificationFailed("token is not valid yet (nbf/iat in the future)") from None
    except jwt.InvalidAudienceError:
        raise VerificationFailed("token is for another audience, not this bot's app id") from None
    except jwt.InvalidIssuerError:
        raise VerificationFailed(f"token issuer is not {ISSUER}") from None
    except jwt.InvalidSignatureError:
        raise VerificationFailed("token signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise VerificationFailed(f"token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError as exc:
        raise VerificationFailed(f"token is not valid: {type(exc).__name__}") from None


class BotFrameworkJwt:
    """The ``teams`` kind of webhook verification."""

    def __init__(self) -> None:
        self.keys = Keys()

    def validate(self, spec: Mapping[str, Any]) -> list[str]:
        app_id = spec.get("app_id")
        if not isinstance(app_id, str) or not app_id.strip():
            return ["option 'verification.app_id' is required for teams verification (the bot's Microsoft "
                    "app id, e.g. {{.RESOURCE.teams_app_id}})"]
        return []

    async def verify(self, spec: Mapping[str, Any], request: Signed, render: Render) -> Inbound | None:
        token = _bearer(request.headers)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise VerificationFailed("bearer token is not a JWT") from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise VerificationFailed(f"token algorithm {str(alg)[:16]!r} refused: Bot Framework tokens are RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise VerificationFailed("token header names no signing key (kid)")
        app_id = str(render(spec["app_id"], "verification.app_id") or "").strip()
        if not app_id:
            raise Misconfigured("option 'verification.app_id' rendered empty")
        if request.egress is None:
            raise Misconfigured("teams verification needs outbound HTTP to fetch Microsoft's keys")
        activity = _activity(request.body)
        key, endorsements = await self.keys.get(request.egress, kid, request.now)
        claims = _claims(token, key, app_id)
        channel = str(activity.get("channelId") or "")
        if endorsements is not None and channel not in endorsements:
            raise VerificationFailed(f"signing key is not endorsed for channel {channel[:32]!r}")
        service_url = activity["serviceUrl"]
        if str(claims.get("serviceurl") or "").rstrip("/") != service_url.rstrip("/"):
            raise VerificationFailed("activity serviceUrl does not match the token's serviceurl claim")
        hosts = request.service_hosts if request.service_hosts is not None else TEAMS_SERVICE_HOSTS
        check_service_url(service_url, AllowList(hosts))
        # The Bot Connector sends an activity again when the bot is slow to answer; its id
        # (unique within the conversation) makes the repeat a no-op, as Slack's event_id does.
        activity_id, conversation = activity.get("id"), (activity.get("conversation") or {}).get("id")
        if activity_id and conversation:
            return Inbound(once=f"teams-activity:{conversation}:{activity_id}")
        return None

    def event(self, activity: Any) -> Any:
        if not isinstance(activity, dict):
            return activity
        event = dict(activity)
        if isinstance(event.get("text"), str):
            event["text"] = strip_mention(event["text"], activity)
        conversation = (activity.get("conversation") or {}).get("id")
        service_url = str(activity.get("serviceUrl") or "")
        if conversation and service_url:
            base = f"{service_url.rstrip('/')}/v3/conversations/{quote(str(conversation), safe='')}/activities"
            event["conversation_url"] = base
            if activity.get("id"):
                event["reply_url"] = f"{base}/{quote(str(activity['id']), safe='')}"
        return event


def strip_mention(text: str, activity: Mapping[str, Any]) -> str:
    """The text without the bot's own ``<at>name</at>`` (Teams includes it in channels and group chats)."""
    bot = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if (isinstance(entity, dict) and entity.get("type") == "mention"
                and (entity.get("mentioned") or {}).get("id") == bot and isinstance(entity.get("text"), str)):
            text = text.replace(entity["text"], "")
    return text.strip()


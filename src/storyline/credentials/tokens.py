"""Fetching the value of a credential that lives elsewhere: OAuth2 tokens, HTTP-request credentials.

Both are an HTTP request, so both run through the HTTP Request action itself (egress,
overrides, timeouts, content types and status handling stay in one place); this
module only says which request and where the value is in the answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storyline.actions import http_request
from storyline.actions.base import ActionError, ActionSpec, RunContext
from storyline.credentials.model import DEFAULT_TTL, Credential
from storyline.egress.carried import Carried
from storyline.egress.client import Egress
from storyline.templating import StaticScope, TemplateError, render_value
from storyline.templating.values import to_text


@dataclass(frozen=True)
class Token:
    value: str
    fetched_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        """Valid for a while yet: renewed a tenth of its life (at most a minute) before it expires."""
        margin = min(60.0, (self.expires_at - self.fetched_at) / 10)
        return now < self.expires_at - margin


def _oauth2_options(credential: Credential) -> dict[str, Any]:
    settings = credential.settings
    payload = {
        "grant_type": "client_credentials",
        "client_id": settings["client_id"],
        "client_secret": credential.secret["client_secret"],
    }
    if settings.get("scope"):
        payload["scope"] = settings["scope"]
    return {"url": settings["token_url"], "method": "post", "content_type": "form", "payload": payload,
            "headers": {"Accept": "application/json"}, "fail_on_status": "true"}


@dataclass(frozen=True)
class _ClientSecret:
    """An OAuth2 client secret on its way to the token URL: a redirect to another origin drops it."""

    carrying: tuple[Carried, ...]

    def carried(self) -> tuple[Carried, ...]:
        return self.carrying

    async def renew(self) -> bool:
        return False


def _value_at(credential: Credential, output: Mapping[str, Any]) -> str:
    path = str(credential.settings.get("token_path") or "")
    template = path if ("{{" in path or "<<" in path) else "{{ ." + path.lstrip(".") + " }}"
    try:
        value = to_text(render_value(template, output, StaticScope()))
    except TemplateError as exc:
        raise ActionError(f"credential '{credential.name}': token_path {path!r}: {exc}") from None
    if not value:
        raise ActionError(f"credential '{credential.name}': the response has nothing at token_path {path!r} "
                          f"(HTTP {output.get('status')})")
    return value


async def fetch(credential: Credential, egress: Egress | None) -> Token:
    """Ask the credential's issuer for a value now; errors name the credential, retryable when worth it."""
    scope = StaticScope()

    def render(value: Any) -> Any:
        # An OAuth2 client secret is sent as written; a request credential's options may
        # be templates (a timestamp, say), though they cannot name other credentials.
        return value if credential.kind == "oauth2" else render_value(value, {}, scope)

    options = (_oauth2_options(credential) if credential.kind == "oauth2"
               else {"fail_on_status": "true", **credential.secret["options"]})
    spec = ActionSpec(id=0, story_id=0, guid="", name=f"credential {credential.name}", key="credential",
                      type=http_request.TYPE, options=options)
    secrets = (_ClientSecret((Carried(credential.name, str(credential.secret["client_secret"])),))
               if credential.kind == "oauth2" else None)
    ctx = RunContext(action=spec, event={}, story_run="", scope=scope, now=time.time(), egress=egress,
                     render=render, secrets=secrets)
    try:
        output = (await http_request.run(ctx)).events[0]
    except ActionError as exc:
        raise ActionError(f"credential '{credential.name}': {exc}", retryable=exc.retryable,
                          retry_after=exc.retry_after) from None
    now = time.time()
    if credential.kind == "oauth2":
        body = output.get("body")
        token = body.get("access_token") if isinstance(body, Mapping) else None
        if not token:
            raise ActionError(f"credential '{credential.name}': the token endpoint's answer has no access_token")
        lifetime = body.get("expires_in") if isinstance(body, Mapping) else None
        try:
            seconds = float(lifetime) if lifetime not in (None, "") else DEFAULT_TTL
        except (TypeError, ValueError):
            seconds = DEFAULT_TTL
        return Token(str(token), now, now + seconds)
    ttl = float(credential.settings.get("ttl") or DEFAULT_TTL)
    return Token(_value_at(credential, output), now, now + ttl)

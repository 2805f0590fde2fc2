"""Slack's requests at a webhook: ``verification: {"type": "slack", "signing_secret": ...}``.

* Slack signs every request (slash commands, Events API, interactivity) with v0
  HMAC-SHA256 over ``v0:<timestamp>:<raw body>``, checked in constant time with the
  standard library (no Slack SDK: importing the actions must not load one). A request
  older or newer than five minutes is refused, so a captured request cannot be
  replayed later; within the window a repeated signature is recorded once.
* ``url_verification`` (saving the Request URL in Slack) is answered with its
  challenge, ``ssl_check`` with 200; neither makes an event.
* Slack retries an event it thinks was lost (``X-Slack-Retry-Num``) with the same
  ``event_id``, even while the first delivery is still being handled: the
  ``event_id`` identifies the delivery, so retries are answered 200 and record nothing.
* Interactivity arrives as a form with one JSON ``payload`` field; it becomes the
  event itself, and a button click (``block_actions``) also gets the fields a slash
  command has (``user_id``, ``user_name``, ``channel_id``, ``response_url``) plus
  which button (``action_id``, ``block_id``, ``value``, ``button``) and when
  (``clicked_at``), so one story can handle both.
* A button whose ``value`` is a ``{% prompt STATUS %}`` URL answers that prompt when
  clicked, in the story run that asked (as opening the URL would), with who clicked,
  which button and when added to the prompt's output; no new run starts here.
* The legacy verification ``token`` Slack still sends is dropped: it is a secret and
  the signature supersedes it.

Slack's error convention on replies is an HTTP Request ``response_check``
(``storyline.actions.response_checks``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from storyline import jsondata
from storyline.inbound import BadRequest, Inbound, Misconfigured, Render, Signed, VerificationFailed
from storyline.store.queries import iso

WINDOW_SECONDS = 5 * 60
"""Slack's replay window: a request timestamp further than this from our clock is refused."""

UNIX_TIME = re.compile(r"[0-9]{1,12}")
"""Whole seconds as Slack sends them; bounded so that a header of thousands of digits is no number to compute with."""

ACK = (200, "")
"""An empty 200 is a pure acknowledgement; any text would be shown to the user who typed the command."""


def v0_signature(signing_secret: str, stamp: str, body: bytes) -> str:
    """Slack's v0 signature of ``body`` sent at ``stamp``."""
    base = b"v0:" + stamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def sign(signing_secret: str, body: bytes, timestamp: float | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``: what the chat console and tests sign requests with."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": v0_signature(signing_secret, stamp, body)}


class SlackVerification:
    """``{"type": "slack", "signing_secret": "{% credential slack_signing_secret %}"}``.

    ``signing_secret`` may also be a list, so a rotated secret and its successor both work.
    """

    def validate(self, spec: Mapping[str, Any]) -> list[str]:
        secret = spec.get("signing_secret")
        secrets = secret if isinstance(secret, list) else [secret]
        if not secrets or not all(isinstance(s, str) and s.strip() for s in secrets):
            return ["option 'verification.signing_secret' is required for slack verification "
                    "(text, e.g. \"{% credential slack_signing_secret %}\")"]
        return []

    async def verify(
        self, spec: Mapping[str, Any], request: Signed, render: Render
    ) -> Inbound:
        headers = request.headers
        stamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not stamp or not signature:
            raise VerificationFailed(
                "missing X-Slack-Request-Timestamp or X-Slack-Signature header (not signed by Slack)")
        if not UNIX_TIME.fullmatch(stamp.strip()):
            raise VerificationFailed("X-Slack-Request-Timestamp is not a Unix time")
        skew = request.now - int(stamp)
        if abs(skew) > WINDOW_SECONDS:
            raise VerificationFailed(
                f"X-Slack-Request-Timestamp is {abs(skew):.0f}s {'old' if skew > 0 else 'in the future'} "
                f"(more than {WINDOW_SECONDS}s): stale or replayed")
        try:
            request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"request body is not UTF-8 (byte {exc.start})") from exc
        given = signature.encode()
        if not any(hmac.compare_digest(v0_signature(secret, stamp, request.body).encode(), given)
                   for secret in self._secrets(spec, render)):
            raise VerificationFailed("X-Slack-Signature does not match the body (wrong signing secret?)")
        return interpret(headers.get("content-type", ""), request.body, signature)

    @staticmethod
    def _secrets(spec: Mapping[str, Any], render: Render) -> list[str]:
        rendered = render(spec["signing_secret"], "verification.signing_secret")
        secrets = [str(s) for s in (rendered if isinstance(rendered, list) else [rendered]) if s]
        if not any(s.strip() for s in secrets):
            # An empty key would let anyone sign; refuse rather than accept everything.
            raise Misconfigured("option 'verification.signing_secret' rendered empty")
        return secrets

    def event(self, parsed: Any) -> Any:
        return parsed


def interpret(content_type: str, body: bytes, signature: str) -> Inbound:
    """What a verified Slack request means: a handshake, or the event it makes."""
    media = content_type.split(";", 1)[0].strip().lower()
    replay = f"slack-signature:{signature}"
    if media == "application/json" or (media != "application/x-www-form-urlencoded"
                                       and body.lstrip().startswith(b"{")):
        envelope = _json_object(body, "request body")
        if envelope.get("type") == "url_verification":
            return Inbound(answer=(200, {"challenge": str(envelope.get("challenge", ""))}))
        event_id = envelope.get("event_id")
        once = f"slack-event:{event_id}" if event_id else replay
        return Inbound(body=_without_token(envelope), once=once, ack=ACK)
    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    if form.get("ssl_check") == "1":
        return Inbound(answer=ACK)
    if "payload" in form:
        payload = _json_object(form["payload"].encode(), "form field 'payload'")
        fields = _without_token(payload)
        if payload.get("type") == "block_actions":
            fields.update(_click(payload))
            prompt = _prompt_url(fields.get("value"))
            if prompt is not None:
                by = {k: fields[k] for k in CLICK_FIELDS if k != "value" and fields.get(k) is not None}
                by["response_url"] = fields.get("response_url")
                return Inbound(body=by, once=replay, ack=ACK, prompt=prompt)
        return Inbound(body=fields, once=replay, ack=ACK)
    return Inbound(body=_without_token(form), once=replay, ack=ACK)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = jsondata.loads(raw)
    except jsondata.JsonError as exc:
        raise BadRequest(f"{what} is {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def _without_token(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key != "token"}


CLICK_FIELDS = ("action_id", "block_id", "value", "button", "user_id", "user_name", "channel_id", "clicked_at")


def _prompt_url(value: Any) -> str | None:
    """A button whose value is a ``{% prompt %}`` URL answers that prompt when clicked."""
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "/prompt?" in value:
        return value
    return None


def _object(value: Any) -> Mapping[str, Any]:
    """A JSON object of the payload, or an empty one when Slack sent something else."""
    return value if isinstance(value, Mapping) else {}


def _click(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Which button was clicked, by whom and when, under the names a slash command uses."""
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], Mapping) else {}
    user = _object(payload.get("user"))
    channel = _object(payload.get("channel"))
    container = _object(payload.get("container"))
    text = action.get("text")
    try:
        clicked = iso(float(action.get("action_ts") or 0)) if action.get("action_ts") else None
    except (TypeError, ValueError):
        clicked = None
    return {
        "action_id": action.get("action_id"),
        "block_id": action.get("block_id"),
        "value": action.get("value"),
        "button": text.get("text") if isinstance(text, Mapping) else text,
        "user_id": user.get("id"),
        "user_name": user.get("username") or user.get("name"),
        "channel_id": channel.get("id") or container.get("channel_id"),
        "clicked_at": clicked,
    }

"""Webhook (Agents::WebhookAgent): the entry point of a story.

It does not run as a job: the web layer verifies and records the request (see
``storyline.web.webhooks``) and this module says how. ``include_headers`` is off
unless set, as in legacy Tines exports, where posted fields sit directly under the
action key (``{{.receive_commands.text}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from storyline.actions.base import truthy

TYPE = "Agents::WebhookAgent"
DESCRIPTION = "Receive HTTP requests at /webhook/<path>/<secret> and start a story run with each."
PURE = True
VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
DEFAULT_VERBS = ("get", "post")


class BadRequest(ValueError):
    """The request body cannot be read as the content type it claims."""


def verbs(options: Mapping[str, Any]) -> tuple[str, ...]:
    raw = options.get("verbs") or ",".join(DEFAULT_VERBS)
    if isinstance(raw, list):
        raw = ",".join(str(v) for v in raw)
    return tuple(v.strip().lower() for v in str(raw).split(",") if v.strip())


def validate(options: Mapping[str, Any]) -> list[str]:
    problems = []
    unknown = [v for v in verbs(options) if v not in VERBS]
    if unknown:
        problems.append(f"option 'verbs' has unknown verb(s) {', '.join(unknown)}; use some of {', '.join(VERBS)}")
    code = options.get("response_code")
    if code not in (None, ""):
        try:
            if not 100 <= int(code) <= 599:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"option 'response_code' must be an HTTP status between 100 and 599, not {code!r}")
    headers = options.get("response_headers")
    if headers not in (None, "") and not isinstance(headers, Mapping):
        problems.append("option 'response_headers' must be an object of header names to values")
    secret = options.get("secret")
    if secret is not None and not isinstance(secret, str):
        problems.append("option 'secret' must be a string")
    return problems


def response_code(options: Mapping[str, Any]) -> int:
    code = options.get("response_code")
    return int(code) if code not in (None, "") else 201


def parse_body(content_type: str, body: bytes) -> Any:
    """The request body as Tines would file it: JSON or form fields, else the text."""
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not UTF-8 (byte {exc.start})") from exc
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if media == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    if text.lstrip().startswith(("{", "[")):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return {"body": text}


def payload(
    options: Mapping[str, Any], body: Any, query: Mapping[str, str], headers: Mapping[str, str]
) -> dict[str, Any]:
    """Query parameters plus the body's fields (the body wins); headers on request."""
    fields: dict[str, Any] = dict(query)
    if isinstance(body, Mapping):
        fields.update(body)
    elif body not in ({}, None):
        fields["body"] = body
    if truthy(options.get("include_headers", False)):
        return {"headers": dict(headers), "body": fields}
    return fields

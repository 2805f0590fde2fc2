"""Webhook (Agents::WebhookAgent): the entry point of a story.

It does not run as a job: the intake verifies and records the request (see
``storyline.engine.intake``) and this module says how. ``include_headers`` nests the
request under ``body`` beside its ``headers``. Left unset, it follows the export's
``schema_version``: off before 3 (Tines had no such option; the 2019 stories read
``{{.receive_commands.text}}``), on from 3 (Tines' documented default; the 2020-2022
exports read ``{{.receive_interactive_from_slack.body.payload}}``). Stories without a
schema version, written for storyline, keep the legacy flat shape.

Options beyond the legacy ones, as in current Tines:

* ``verification`` — proof of the sender, checked over the raw body by the kind its
  ``type`` names (``storyline.actions.plugins``); a failure is answered 401 and records nothing.
* ``rules`` (and ``must_match``) — the Trigger's rules, tested against the event the
  request would create; the request is recorded only when one rule matches (or
  ``must_match`` of them), else it is answered "No rules matched" and dropped.
* ``rate_limit`` — ``{"count": N, "period": SECONDS, "key": optional template}``: at
  most N requests per sliding window (per value of ``key``); more are answered 429
  with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from storyline import jsondata
from storyline.actions.base import ActionError, RunContext
from storyline.actions.plugins import VERIFIERS
from storyline.actions.rules import evaluate_rules, validate_rules
from storyline.inbound import BadRequest, Verifier
from storyline.templating.values import is_templated, option_flag, to_number

TYPE = "Agents::WebhookAgent"
DESCRIPTION = "Receive HTTP requests at /webhook/<path>/<secret> and start a story run with each."
VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
DEFAULT_VERBS = ("get", "post")


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
    if options.get("verification") not in (None, ""):
        problems.extend(validate_verification(options["verification"]))
    if options.get("rules") not in (None, ""):
        problems.extend(validate_rules(options, required=False))
    if options.get("rate_limit") not in (None, ""):
        problems.extend(_validate_rate_limit(options["rate_limit"]))
    return problems


def validate_verification(spec: Any, verifiers: Mapping[str, Verifier] = VERIFIERS) -> list[str]:
    """Problems with a ``verification`` option: a kind of ``verifiers`` must check it, and its options."""
    if not isinstance(spec, Mapping):
        return ["option 'verification' must be an object with a 'type' (one of " + ", ".join(verifiers) + ")"]
    verifier = verifiers.get(str(spec.get("type")))
    if verifier is None:
        return [f"option 'verification.type' must be one of {', '.join(verifiers)} (got {spec.get('type')!r})"]
    return verifier.validate(spec)


def _validate_rate_limit(spec: Any) -> list[str]:
    if not isinstance(spec, Mapping):
        return ["option 'rate_limit' must be an object {\"count\": N, \"period\": SECONDS}"]
    problems = []
    for name in ("count", "period"):
        value = spec.get(name)
        if is_templated(value):
            continue
        number = to_number(value)
        if number is None or number <= 0 or (name == "count" and not number.is_integer()):
            kind = "whole number" if name == "count" else "number of seconds"
            problems.append(f"option 'rate_limit.{name}' must be a positive {kind} (got {value!r})")
    return problems


@dataclass(frozen=True)
class RateLimit:
    count: int
    period: float
    key: str


def rate_limit(ctx: RunContext) -> RateLimit | None:
    """The rendered ``rate_limit`` for this request (``key`` may name a header or field)."""
    spec = ctx.option("rate_limit")
    if spec in (None, ""):
        return None
    if not isinstance(spec, Mapping):
        raise ActionError("option 'rate_limit' must be an object {\"count\": N, \"period\": SECONDS}")
    count, period = to_number(spec.get("count")), to_number(spec.get("period"))
    if count is None or count < 1 or period is None or period <= 0:
        raise ActionError(f"option 'rate_limit' needs a positive count and period (got {dict(spec)!r})")
    key = spec.get("key")
    return RateLimit(math.floor(count), float(period), "" if key is None else str(key))


def admits(ctx: RunContext) -> tuple[bool, list[str]]:
    """Whether the request passes the webhook's ``rules`` (always, without any)."""
    if not ctx.action.options.get("rules"):
        return True, []
    return evaluate_rules(ctx, any_rule=True)


def response_code(options: Mapping[str, Any]) -> int:
    code = options.get("response_code")
    return int(code) if code not in (None, "") else 201


def parse_body(content_type: str, body: bytes) -> Any:
    """The request body as Tines would file it: JSON or form fields, else the text.

    JSON keeps integers of any width exact and may nest ``jsondata.MAX_DEPTH`` levels;
    deeper is a BadRequest (400), since sending it again cannot help. Form fields are
    flat text, so they nest no further.
    """
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not UTF-8 (byte {exc.start})") from exc
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return _json_body(body)
    if media == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    if text.lstrip().startswith(("{", "[")):
        with contextlib.suppress(BadRequest):
            return _json_body(body)
    return {"body": text}


def _json_body(body: bytes) -> Any:
    try:
        return jsondata.loads(body)
    except jsondata.JsonError as exc:
        raise BadRequest(f"request body is {exc}") from exc


#: The first export schema whose webhooks include headers unless told otherwise.
FIRST_SCHEMA_WITH_HEADERS = 3


def includes_headers(options: Mapping[str, Any], schema_version: int | None) -> bool:
    if options.get("include_headers") is not None:
        return option_flag(options["include_headers"])
    return schema_version is not None and schema_version >= FIRST_SCHEMA_WITH_HEADERS


CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
CREDENTIAL_MARKS = ("signature", "token", "secret", "password", "apikey", "api-key", "hmac", "credential", "jwt")
"""A header whose name contains one of these carries a credential or a proof of one (X-Hub-Signature-256,
X-Gitlab-Token, X-Api-Key, Stripe-Signature, X-Shopify-Hmac-Sha256...)."""


def stored_headers(options: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers as an event keeps them: without credentials, signatures or the webhook's secret.

    A verifier checks those over the raw request before this point; kept in the event,
    they would reach every action downstream, its logs and exports. The secret is looked
    for anywhere in a value: a proxy's ``X-Forwarded-Uri`` or a browser's ``Referer``
    quotes the whole webhook URL.
    """
    secret = str(options.get("secret") or "")
    kept = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in CREDENTIAL_HEADERS or any(mark in lowered for mark in CREDENTIAL_MARKS):
            continue
        if secret and secret in value:
            continue
        kept[name] = value
    return kept


def headers_size(headers: Mapping[str, str]) -> int:
    """Bytes the stored headers add to an event, counted against ``STORYLINE_MAX_BODY_BYTES``."""
    return sum(len(name.encode()) + len(value.encode()) for name, value in headers.items())


def payload(
    options: Mapping[str, Any], body: Any, query: Mapping[str, str], headers: Mapping[str, str],
    schema_version: int | None = None,
) -> dict[str, Any]:
    """Query parameters (but the webhook's secret) plus the body's fields (the body wins); headers as
    ``includes_headers`` says, as :func:`stored_headers` keeps them."""
    secret = str(options.get("secret") or "")
    fields: dict[str, Any] = {name: value for name, value in query.items() if not (secret and secret in value)}
    if isinstance(body, Mapping):
        fields.update(body)
    elif body not in ({}, None):
        fields["body"] = body
    if includes_headers(options, schema_version):
        return {"headers": stored_headers(options, headers), "body": fields}
    return fields

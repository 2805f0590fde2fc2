"""A request at a webhook, from its URL to its answer: verify, filter, limit, record durably, then answer.

The web route only translates HTTP to a :class:`Delivery` and a :class:`Reply` back;
every decision, and so every status, is made here. The answer is sent only after the
entry event and its jobs are committed, so an acknowledged request is never lost.
Checks run cheapest and most certain first: the URL secret (a wrong one is answered
exactly as an unknown path is), the method, the body size (with the headers the event
will store), the ``verification`` over the raw body, then ``rules`` and
``rate_limit`` on the parsed request; the rate limit counts every request that got
that far (matching the rules or not) in the transaction that records it. A verifier
that knows its sender's protocol (Slack, Teams) may answer a handshake itself, hand
over the body as the event carries it, name what identifies a delivery so that the
sender's retries are answered 200 and record nothing (``storyline.engine.deliveries``),
or carry a click that answers a prompt (``storyline.engine.prompt_answers``). Every
refusal is logged with its reason.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from storyline.actions import webhook
from storyline.actions.base import ActionError, ActionSpec, render_option
from storyline.actions.plugins import VERIFIERS
from storyline.actions.rules import PatternTimedOut
from storyline.engine import deliveries, prompt_answers, queue, rate_limit
from storyline.engine.catalog import Catalog
from storyline.engine.runtime import RunScope
from storyline.engine.service import Service
from storyline.inbound import BadRequest, Inbound, Misconfigured, Signed, VerificationFailed
from storyline.templating import TemplateError, render_text

log = logging.getLogger(__name__)

NO_WEBHOOK = ("no webhook at this URL, or not with this secret: check both (`storyline story list` on the "
              "server shows the URLs)")
_UNGUESSABLE = secrets.token_urlsafe(32)


class Disconnected(Exception):
    """The sender went away before its whole body arrived."""


@dataclass(frozen=True)
class Delivery:
    """An HTTP request at a webhook URL, as the intake reads it."""

    path: str
    secret: str
    """From the URL, else from ``Authorization: Bearer``."""
    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: AsyncIterable[bytes]
    """Read only once the webhook is found and its size limit known; may raise Disconnected."""


@dataclass(frozen=True)
class Reply:
    """The answer: ``content`` as text of ``media_type`` or, when not text, as JSON; None is an empty body."""

    status: int
    content: Any = None
    media_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _error(status: int, message: str, **headers: str) -> _Refused:
    return _Refused(Reply(status, {"error": message}, headers=headers))


def _misconfigured(action: ActionSpec, exc: Exception) -> _Refused:
    log.warning("webhook %s: %s", action.name, exc)
    return _error(500, f"webhook '{action.name}' cannot check this request: {exc}")


def _bad_request(action: ActionSpec, message: str) -> _Refused:
    log.warning("webhook %s: refused: %s (HTTP 400)", action.name, message)
    return _error(400, message)


async def receive(service: Service, delivery: Delivery) -> Reply:
    """What to answer ``delivery``; when it is to be recorded, it is recorded before this returns."""
    try:
        return await _receive(service, delivery)
    except _Refused as refused:
        return refused.reply


async def _receive(service: Service, delivery: Delivery) -> Reply:
    arrived = time.monotonic()
    catalog = await service.catalogs.get()
    action = _webhook(catalog, delivery)
    options = action.options
    schema = catalog.story(action.story_id).schema_version
    body = await _body(service, action, delivery, schema)
    now = time.time()
    inbound = await _verify(service, action, delivery, body, now)
    if inbound is not None and inbound.answer is not None:
        return Reply(*inbound.answer)
    if inbound is not None and inbound.prompt is not None:
        return await _answer_prompt(service, action, inbound, now)
    if inbound is not None and inbound.body is not None:
        parsed = inbound.body
    else:
        try:
            parsed = webhook.parse_body(delivery.headers.get("content-type", ""), body)
        except BadRequest as exc:
            raise _bad_request(action, str(exc)) from None
        if options.get("verification"):
            parsed = VERIFIERS[str(options["verification"]["type"])].event(parsed)
    fields = webhook.payload(options, parsed, delivery.query, delivery.headers, schema)
    matched, limit = await _filter(service, action, fields, now)
    once = inbound.once if inbound is not None else None
    try:
        outcome = await service.db.write(_record, catalog, action, fields, matched, limit, now, once)
    except ActionError as exc:  # what the request would make storyline store is refused (too deep, too big)
        log.warning("webhook %s: refused: %s (HTTP 400)", action.name, exc)
        raise _error(400, f"this request cannot be recorded: {exc}; nothing was recorded") from None
    except SQLAlchemyError:
        log.exception("webhook %s: the request could not be recorded (HTTP 503)", action.name)
        raise _error(503, "storyline could not record this request (database error); nothing was recorded, "
                          "send it again", **{"retry-after": "1"}) from None
    if outcome.duplicate:
        log.info("webhook %s: repeated delivery answered 200, not recorded again", action.name)
        return Reply(200)
    if outcome.retry_after is not None:
        assert limit is not None
        raise _error(429, f"rate limit of {limit.count} request(s) per {limit.period:g}s exceeded",
                     **{"retry-after": str(outcome.retry_after)})
    if outcome.ingested is None:
        return Reply(200, "No rules matched")
    service.wake()
    vault = service.runtime.vault
    if options.get("response") not in (None, ""):
        await vault.sync(since=arrived)  # a resource set before the request arrived is the one it answers with
    ack = inbound.ack if inbound is not None else None
    respond = functools.partial(
        _respond, action, fields, outcome.ingested.story_run, service.settings.public_url, vault.resources, ack)
    # A response template may run a story's regex over the sender's text, up to its time limit: off the loop
    # that answers everyone (as rules are).
    return await asyncio.to_thread(respond) if options.get("response") not in (None, "") else respond()


def _webhook(catalog: Catalog, delivery: Delivery) -> ActionSpec:
    """The webhook the URL names, if the secret is its own and it takes this method."""
    action = catalog.webhooks.get(delivery.path)
    # An unknown path and a wrong secret get the same answer, so paths cannot be found by trying.
    expected = str(action.options.get("secret") or "") if action is not None else _UNGUESSABLE
    if not hmac.compare_digest(delivery.secret.encode(), expected.encode()) or action is None:
        if action is not None:
            log.warning("webhook %s: refused: wrong or missing secret (HTTP 404, as for an unknown path)",
                        action.name)
        raise _error(404, NO_WEBHOOK)
    if action.disabled:
        raise _error(403, f"webhook '{action.name}' is disabled")
    if catalog.story(action.story_id).disabled:
        # Only a caller with the secret learns it: to anyone else this is an unknown URL, as above.
        log.info("webhook %s: refused: its story is disabled (HTTP 403)", action.name)
        raise _error(403, f"the story of webhook '{action.name}' is disabled")
    verbs = webhook.verbs(action.options)
    if delivery.method.lower() not in verbs:
        raise _error(405, f"this webhook accepts {', '.join(verbs).upper()}")
    return action


async def _body(service: Service, action: ActionSpec, delivery: Delivery, schema: int | None) -> bytes:
    """The body, if it fits: what the event stores counts, headers included (a header is no way around it)."""
    limit = service.settings.max_body_bytes
    stored = 0
    if webhook.includes_headers(action.options, schema):
        stored = webhook.headers_size(webhook.stored_headers(action.options, delivery.headers))
    try:
        return await _read(delivery, limit - stored)
    except _TooLarge:
        message = f"request body is larger than the {limit} byte limit"
        if stored:
            message += f" less the {stored} bytes of headers this webhook stores"
        log.warning("webhook %s: refused: %s (HTTP 413)", action.name, message)
        raise _error(413, message) from None
    except Disconnected:
        raise _Refused(Reply(400)) from None


class _TooLarge(Exception):
    pass


async def _read(delivery: Delivery, limit: int) -> bytes:
    if limit < 0:
        raise _TooLarge
    declared = delivery.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks = []
    size = 0
    async for chunk in delivery.body:
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _verify(
    service: Service, action: ActionSpec, delivery: Delivery, body: bytes, now: float,
) -> Inbound | None:
    """What the webhook's ``verification`` made of the request (None without one, or nothing to say)."""
    options = action.options
    try:
        if any(options.get(name) for name in ("verification", "rules", "rate_limit")):
            await service.runtime.prepare(action)  # their templates may name credentials
        spec = options.get("verification")
        if not spec:
            return None
        render = functools.partial(render_option, service.runtime.context(action, {}, "", now))
        signed = Signed(delivery.headers, body, now, service.egress, service.settings.teams_service_hosts)
        return await VERIFIERS[str(spec["type"])].verify(spec, signed, render)
    except VerificationFailed as exc:
        log.warning("webhook %s: refused: %s (HTTP 401)", action.name, exc)
        raise _error(401, str(exc)) from None
    except BadRequest as exc:
        raise _bad_request(action, str(exc)) from None
    except (ActionError, Misconfigured) as exc:
        raise _misconfigured(action, exc) from None


async def _filter(
    service: Service, action: ActionSpec, fields: Any, now: float,
) -> tuple[bool, webhook.RateLimit | None]:
    """Whether the request passes the ``rules``, and the ``rate_limit`` it counts against."""
    ctx = service.runtime.context(action, {action.key: fields}, "", now)

    def check() -> tuple[bool, webhook.RateLimit | None]:
        return webhook.admits(ctx)[0], webhook.rate_limit(ctx)

    try:
        # Rules, and a rate limit's key, may run a story's regex up to its time limit: off the loop that
        # answers everyone.
        return await asyncio.to_thread(check) if any(action.options.get(o) for o in ("rules", "rate_limit")) else check()
    except PatternTimedOut as exc:
        log.warning("webhook %s: refused: %s (HTTP 422)", action.name, exc)
        raise _error(422, f"this request could not be checked against the webhook's rules in time ({exc}); "
                          "nothing was recorded") from None
    except ActionError as exc:
        raise _misconfigured(action, exc) from None


@dataclass(frozen=True)
class Outcome:
    """A request recorded (``ingested``), filtered out by rules (neither), over the rate limit, or a repeat."""

    ingested: queue.Ingested | None = None
    retry_after: int | None = None
    duplicate: bool = False


def _record(
    conn: Connection, catalog: Catalog, action: ActionSpec, fields: Any, matched: bool,
    limit: webhook.RateLimit | None, now: float, once: str | None = None,
) -> Outcome:
    if once is not None and deliveries.seen(conn, action.id, once, now):
        return Outcome(duplicate=True)
    if limit is not None:
        wait = rate_limit.admit(conn, action.id, limit.key, limit.count, limit.period, now)
        if wait is not None:
            return Outcome(retry_after=wait)
    if not matched:
        return Outcome()
    if once is not None:
        deliveries.remember(conn, action.id, once, now)
    return Outcome(ingested=queue.ingest(conn, catalog, action, fields, now))


async def _answer_prompt(service: Service, action: ActionSpec, inbound: Inbound, now: float) -> Reply:
    """A chat button carrying a prompt URL was clicked: answer the prompt as opening the URL would."""
    assert inbound.prompt is not None
    prompt = prompt_answers.verified(service, dict(parse_qsl(urlsplit(inbound.prompt).query)))
    if prompt is None:
        log.warning("webhook %s: refused: a button carried a prompt URL that is not valid (HTTP 403)", action.name)
        raise _error(403, "the button's prompt URL is incomplete or has been altered; nothing was recorded")
    by = inbound.body if isinstance(inbound.body, Mapping) else None
    result = await prompt_answers.receive(service, prompt, now, by)
    if result.outcome == "gone":
        log.info("webhook %s: a click answered a prompt whose event has expired", action.name)
        raise _error(410, "this prompt has expired; nothing was recorded")
    return Reply(*(inbound.ack or (200, "")))


def _respond(
    action: ActionSpec, fields: dict[str, Any], story_run: str, public_url: str, resources: Mapping[str, Any],
    ack: tuple[int, str] | None = None,
) -> Reply:
    options = action.options
    headers = {str(k): str(v) for k, v in (options.get("response_headers") or {}).items()}
    template = options.get("response")
    if template in (None, "") and ack is not None and options.get("response_code") in (None, ""):
        return Reply(ack[0], ack[1], headers=headers)
    if template in (None, ""):
        return Reply(webhook.response_code(options), "Ok", headers=headers)
    # Resources, not credentials: a response goes back to whoever called the webhook.
    scope = RunScope(story_run, action, {}, resources, public_url)
    try:
        text = render_text(str(template), {**fields, action.key: fields}, scope, formulas=action.formulas)
    except TemplateError as exc:
        log.warning("webhook %s: option 'response' failed to render: %s", action.name, exc)
        return Reply(500, {"error": f"the request was recorded, but option 'response' failed to render: {exc}"})
    media = "application/json" if text.lstrip().startswith(("{", "[")) else "text/plain"
    return Reply(webhook.response_code(options), text, media, headers)

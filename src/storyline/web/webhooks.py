"""POST /webhook/<path>/<secret>: verify, filter, limit, record durably, then answer.

The answer is sent only after the entry event and its jobs are committed, so an
acknowledged request is never lost. Checks run cheapest and most certain first: the
URL secret (a wrong one is answered exactly as an unknown path is), the method, the
body size (with the headers the event will store), the ``verification`` over the raw
body, then ``rules`` and ``rate_limit`` on the parsed request; the rate limit counts every
request that got that far (matching the rules or not) in the transaction that
records it. A verifier that knows its sender's protocol (Slack, Teams) may answer a
handshake itself, hand over the body as the event carries it, and name what
identifies a delivery so that the sender's retries are answered 200 and record
nothing (``storyline.engine.deliveries``). Every refusal is logged with its reason.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storyline.actions import verification, webhook
from storyline.actions.base import ActionError, ActionSpec
from storyline.actions.trigger import PatternTimedOut, render_option
from storyline.credentials import signing
from storyline.engine import deliveries, queue, rate_limit
from storyline.engine.catalog import Catalog
from storyline.engine.runtime import RunScope
from storyline.engine.service import Service
from storyline.templating import TemplateError, render_text
from storyline.web import prompts as web_prompts

log = logging.getLogger(__name__)


NO_WEBHOOK = ("no webhook at this URL, or not with this secret: check both (`storyline story list` on the "
              "server shows the URLs)")
_UNGUESSABLE = secrets.token_urlsafe(32)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    if limit < 0:
        raise TooLarge
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def routes(service: Service) -> list[Route]:
    settings = service.settings

    async def receive(request: Request) -> Response:
        path = request.path_params["path"]
        catalogs = service.catalogs
        if catalogs.due():
            await service.db.read(catalogs.refresh)
        action = catalogs.current.webhooks.get(path)
        secret = request.path_params.get("secret") or _bearer(request)
        # An unknown path and a wrong secret get the same answer, so paths cannot be found by trying.
        expected = str(action.options.get("secret") or "") if action is not None else _UNGUESSABLE
        if not hmac.compare_digest(secret.encode(), expected.encode()) or action is None:
            if action is not None:
                log.warning("webhook %s: refused: wrong or missing secret (HTTP 404, as for an unknown path)",
                            action.name)
            return _error(404, NO_WEBHOOK)
        if action.disabled:
            return _error(403, f"webhook '{action.name}' is disabled")
        options = action.options
        if request.method.lower() not in webhook.verbs(options):
            return _error(405, f"this webhook accepts {', '.join(webhook.verbs(options)).upper()}")
        schema = catalogs.current.story(action.story_id).schema_version
        # What the event stores counts, headers included: a header is no way around the body limit.
        stored = 0
        if webhook.includes_headers(options, schema):
            stored = webhook.headers_size(webhook.stored_headers(options, request.headers))
        try:
            body = await _read_body(request, settings.max_body_bytes - stored)
        except TooLarge:
            message = f"request body is larger than the {settings.max_body_bytes} byte limit"
            if stored:
                message += f" less the {stored} bytes of headers this webhook stores"
            log.warning("webhook %s: refused: %s (HTTP 413)", action.name, message)
            return _error(413, message)
        except ClientDisconnect:
            return Response(status_code=400)
        now = time.time()
        inbound: verification.Inbound | None = None
        try:
            if any(options.get(name) for name in ("verification", "rules", "rate_limit")):
                await service.runtime.prepare(action)  # their templates may name credentials
            if options.get("verification"):
                render = functools.partial(render_option, service.runtime.context(action, {}, "", now))
                signed = verification.Signed(request.headers, body, now, service.egress, settings)
                inbound = await verification.verify(options["verification"], signed, render)
        except verification.VerificationFailed as exc:
            log.warning("webhook %s: refused: %s (HTTP 401)", action.name, exc)
            return _error(401, str(exc))
        except webhook.BadRequest as exc:
            log.warning("webhook %s: refused: %s (HTTP 400)", action.name, exc)
            return _error(400, str(exc))
        except ActionError as exc:
            return _misconfigured(action, exc)
        if inbound is not None and inbound.answer is not None:
            return _content(*inbound.answer)
        if inbound is not None and inbound.prompt is not None:
            return await _answer_prompt(service, action, inbound, now)
        if inbound is not None and inbound.body is not None:
            parsed = inbound.body
        else:
            try:
                parsed = webhook.parse_body(request.headers.get("content-type", ""), body)
            except webhook.BadRequest as exc:
                log.warning("webhook %s: refused: %s (HTTP 400)", action.name, exc)
                return _error(400, str(exc))
            if options.get("verification"):
                parsed = verification.event(options["verification"], parsed)
        fields = webhook.payload(options, parsed, request.query_params, request.headers, schema)
        ctx = service.runtime.context(action, {action.key: fields}, "", now)
        try:
            admits = functools.partial(webhook.admits, ctx)
            # Rules may run a story's regex up to its time limit: off the loop that answers everyone.
            matched, _ = await asyncio.to_thread(admits) if options.get("rules") else admits()
            limit = webhook.rate_limit(ctx)
        except PatternTimedOut as exc:
            log.warning("webhook %s: refused: %s (HTTP 422)", action.name, exc)
            return _error(422, f"this request could not be checked against the webhook's rules in time ({exc}); "
                               "nothing was recorded")
        except ActionError as exc:
            return _misconfigured(action, exc)
        once = inbound.once if inbound is not None else None
        try:
            outcome = await service.db.write(_record, catalogs.current, action, fields, matched, limit, now, once)
        except ActionError as exc:  # what the request would make storyline store is refused (too deep, too big)
            log.warning("webhook %s: refused: %s (HTTP 400)", action.name, exc)
            return _error(400, f"this request cannot be recorded: {exc}; nothing was recorded")
        except SQLAlchemyError:
            log.exception("webhook %s: the request could not be recorded (HTTP 503)", action.name)
            return JSONResponse({"error": "storyline could not record this request (database error); nothing "
                                          "was recorded, send it again"},
                                status_code=503, headers={"retry-after": "1"})
        if outcome.duplicate:
            log.info("webhook %s: repeated delivery answered 200, not recorded again", action.name)
            return Response(status_code=200)
        if outcome.retry_after is not None:
            assert limit is not None
            return JSONResponse(
                {"error": f"rate limit of {limit.count} request(s) per {limit.period:g}s exceeded"},
                status_code=429, headers={"retry-after": str(outcome.retry_after)},
            )
        if outcome.ingested is None:
            return Response("No rules matched", status_code=200, media_type="text/plain")
        service.wake()
        vault = service.runtime.vault
        await vault.sync()
        ack = inbound.ack if inbound is not None else None
        return _respond(action, fields, outcome.ingested.story_run, settings.public_url, vault.resources, ack)

    return [
        Route("/webhook/{path}/{secret}", receive, methods=[v.upper() for v in webhook.VERBS]),
        Route("/webhook/{path}", receive, methods=[v.upper() for v in webhook.VERBS]),
    ]


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


async def _answer_prompt(service: Service, action: ActionSpec, inbound: verification.Inbound,
                         now: float) -> Response:
    """A chat button carrying a prompt URL was clicked: answer the prompt as opening the URL would."""
    assert inbound.prompt is not None
    key = service.runtime.prompt_key
    query = dict(parse_qsl(urlsplit(inbound.prompt).query))
    prompt = signing.verify(key, query) if key is not None else None
    if prompt is None:
        log.warning("webhook %s: refused: a button carried a prompt URL that is not valid (HTTP 403)", action.name)
        return _error(403, "the button's prompt URL is incomplete or has been altered; nothing was recorded")
    catalogs = service.catalogs
    if prompt.action_id not in catalogs.current.actions:
        await service.db.read(lambda conn: catalogs.refresh(conn, force=True))
    by = inbound.body if isinstance(inbound.body, Mapping) else None
    result = await service.db.write(web_prompts.answer, catalogs.current, service.runtime, prompt, now, by)
    if result.outcome == "gone":
        log.info("webhook %s: a click answered a prompt whose event has expired", action.name)
        return _error(410, "this prompt has expired; nothing was recorded")
    service.wake()
    return _content(*(inbound.ack or (200, "")))


def _misconfigured(action: ActionSpec, exc: ActionError) -> Response:
    log.warning("webhook %s: %s", action.name, exc)
    return _error(500, f"webhook '{action.name}' cannot check this request: {exc}")


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def _content(status: int, content: Any) -> Response:
    if isinstance(content, str):
        return Response(content, status_code=status, media_type="text/plain")
    return JSONResponse(content, status_code=status)


def _respond(
    action: Any, fields: dict[str, Any], story_run: str, public_url: str, resources: Mapping[str, Any],
    ack: tuple[int, str] | None = None,
) -> Response:
    options = action.options
    headers = {str(k): str(v) for k, v in (options.get("response_headers") or {}).items()}
    template = options.get("response")
    if template in (None, "") and ack is not None and options.get("response_code") in (None, ""):
        return Response(ack[1], status_code=ack[0], headers=headers, media_type="text/plain")
    if template in (None, ""):
        return Response("Ok", status_code=webhook.response_code(options), headers=headers,
                        media_type="text/plain")
    # Resources, not credentials: a response goes back to whoever called the webhook.
    scope = RunScope(story_run, action, {}, resources, public_url)
    try:
        text = render_text(str(template), {**fields, action.key: fields}, scope)
    except TemplateError as exc:
        log.warning("webhook %s: option 'response' failed to render: %s", action.name, exc)
        return _error(500, f"the request was recorded, but option 'response' failed to render: {exc}")
    media = "application/json" if text.lstrip().startswith(("{", "[")) else "text/plain"
    return Response(text, status_code=webhook.response_code(options), headers=headers, media_type=media)

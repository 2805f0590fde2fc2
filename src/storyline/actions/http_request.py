"""HTTP Request (``Agents::HTTPRequestAgent``): call an API and emit its answer.

Options follow Tines (docs.tines.io era and current docs, checked against the public
story corpus): ``url``, ``method``, ``content_type``, ``payload``, ``headers``,
``basic_auth``, ``timeout``, ``user_agent``, ``disable_ssl_verification``,
``fail_on_status``, ``retry_on_status``, ``log_error_on_status``,
``disable_redirect_follow``. The emitted event is
``{"body": <JSON or text>, "headers": {<lower-case>: value}, "status": <int>}``.

Status handling, in order:

* 429 is always retried, honouring ``Retry-After``; so is any status listed in
  ``retry_on_status`` (the engine counts attempts and records the error at the limit).
* ``fail_on_status`` turns any other non-2xx answer into a failed action.
* Otherwise the response is emitted whatever its status (Tines emits 4xx/5xx events so
  stories can branch on ``.status``); ``log_error_on_status`` only adds an error log.
* No answer at all (timeout, refused connection; Tines' "status 0") is retried.

``response_check`` (storyline's own) names an API whose errors do not show in the
status: ``slack`` fails the action on ``{"ok": false, "error": CODE}`` with the code,
and retries ``ratelimited`` (see ``storyline.actions.response_checks``). It runs after the 429 check.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from storyline import jsondata
from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.plugins import RESPONSE_CHECKS
from storyline.egress.client import Egress
from storyline.egress.errors import EgressError
from storyline.egress.response import EgressResponse, retry_after_seconds
from storyline.templating.values import is_templated, option_flag, to_number, to_text

TYPE = "Agents::HTTPRequestAgent"
DESCRIPTION = "Send an HTTP request and emit the response status, headers and body."
PURE: Final = False

METHODS = ("get", "post", "put", "patch", "delete", "head")
DEFAULT_METHOD = "post"
"""Older Tines docs make ``post`` the default. Every HTTP action in the public corpus
(194 of 194) names its method, so the default only matters for hand-written stories."""

QUERY_METHODS = frozenset({"get", "delete", "head"})
"""Methods whose ``payload`` becomes query parameters rather than a body."""

CONTENT_TYPES: dict[str, str] = {
    "json": "application/json; charset=utf-8",
    "application_json": "application/json; charset=utf-8",
    "form": "application/x-www-form-urlencoded",
    "xml": "text/xml; charset=utf-8",
    "data": "multipart/form-data",
    "text": "text/plain; charset=utf-8",
}

_STATUS_PATTERN = re.compile(r"^[1-5](\d\d|xx|\dx)$", re.IGNORECASE)


def _content_type_option(options: Mapping[str, Any]) -> Any:
    # One Tines story in the corpus spells it "content-type".
    value = options.get("content_type")
    return options.get("content-type") if value in (None, "") else value


def validate(options: Mapping[str, Any]) -> list[str]:
    """Problems with the options as written, each naming the option."""
    problems: list[str] = []

    url = options.get("url")
    if not isinstance(url, str) or not url.strip():
        problems.append("url: is required (the full address, e.g. https://api.example.com/v1/items)")
    elif not is_templated(url) and not re.match(r"^\s*https?://", url, re.IGNORECASE):
        problems.append(f"url: must start with http:// or https:// (got {url[:60]!r})")

    method = options.get("method")
    if (
        method not in (None, "")
        and not is_templated(method)
        and (not isinstance(method, str) or method.strip().lower() not in METHODS)
    ):
        problems.append(f"method: must be one of {', '.join(METHODS)} (got {method!r})")

    content_type = _content_type_option(options)
    if content_type not in (None, "") and not is_templated(content_type):
        if not isinstance(content_type, str):
            problems.append(f"content_type: must be a name or a MIME type (got {content_type!r})")
        elif "/" not in content_type and content_type.strip().lower() not in CONTENT_TYPES:
            names = ", ".join(sorted(CONTENT_TYPES))
            problems.append(
                f"content_type: must be one of {names} or a full MIME type (got {content_type!r})"
            )

    timeout = options.get("timeout")
    if timeout not in (None, "") and not is_templated(timeout):
        seconds = to_number(timeout)
        if seconds is None or seconds <= 0:
            problems.append(f"timeout: must be a positive number of seconds (got {timeout!r})")

    headers = options.get("headers")
    if (
        headers not in (None, "")
        and not isinstance(_maybe_json(headers), Mapping)
        and not is_templated(headers)
    ):
        problems.append("headers: must be an object of header names to values")

    auth = options.get("basic_auth")
    if auth not in (None, "", []) and not is_templated(auth):
        if isinstance(auth, str):
            if ":" not in auth:
                problems.append('basic_auth: must be "user:password" or ["user", "password"]')
        elif not (isinstance(auth, list | tuple) and len(auth) == 2):
            problems.append('basic_auth: must be "user:password" or ["user", "password"]')

    for name in ("retry_on_status", "log_error_on_status"):
        value = options.get(name)
        if value in (None, "", []) or is_templated(value):
            continue
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        bad = [item for item in items if not is_templated(item) and not _status_matcher_ok(item)]
        if bad:
            problems.append(f"{name}: must list HTTP status codes such as 429, 5xx or 400-499 (bad: {bad!r})")
    check = options.get("response_check")
    if check not in (None, "") and not is_templated(check) and check not in RESPONSE_CHECKS:
        problems.append(f"response_check: must be one of {', '.join(sorted(RESPONSE_CHECKS))} (got {check!r})")
    return problems


def _status_matcher_ok(item: Any) -> bool:
    return _status_range(item) is not None


def _status_range(item: Any) -> tuple[int, int] | None:
    """One entry of a status list as an inclusive range, or None if it is not one.

    Real exports use exact codes (``"429"``, ``429``), ranges (``"400-499"``) and ``"0"``
    (Tines' status for "no response"); "5xx"/"50x" wildcards are accepted too.
    """
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        return (item, item) if 0 <= item <= 599 else None
    text = str(item).strip().lower()
    if text.isdigit():
        code = int(text)
        return (code, code) if code <= 599 else None
    low, dash, high = text.partition("-")
    if dash and low.strip().isdigit() and high.strip().isdigit():
        start, end = int(low), int(high)
        return (start, end) if start <= end <= 599 else None
    if _STATUS_PATTERN.match(text):
        width = 10 ** text.count("x")
        start = int(text.replace("x", "0"))
        return (start, start + width - 1)
    return None


def _statuses(value: Any) -> tuple[tuple[int, int], ...]:
    """The ranges named by a ``retry_on_status`` / ``log_error_on_status`` option."""
    if value in (None, "", []):
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(r for r in map(_status_range, items) if r is not None)


def _status_in(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= status <= high for low, high in ranges)


def _maybe_json(value: Any) -> Any:
    """A rendered option that should be an object may arrive as its JSON text."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return jsondata.loads(value, max_depth=None)
        except jsondata.JsonError:
            return value
    return value


def _fields(payload: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Flatten an object payload for a query string or form: lists repeat the key."""
    out: dict[str, str | list[str]] = {}
    for key, value in payload.items():
        if isinstance(value, list | tuple):
            out[str(key)] = [to_text(item) for item in value]
        else:
            out[str(key)] = to_text(value)
    return out


def _json_bytes(payload: Any) -> bytes:
    if isinstance(payload, str):
        return payload.encode()
    return jsondata.dumpb(payload, default=str)


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    # Binary file contents reach us as text from templates (base64_decode);
    # surrogateescape keeps undecodable bytes as they were.
    return to_text(value).encode("utf-8", errors="surrogateescape")


def _multipart(
    payload: Mapping[str, Any],
) -> list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]]:
    """``data`` payloads: ``{"file": {"contents": ..., "filename": ...}}`` entries are files, the rest fields."""
    parts: list[tuple[str, Any]] = []
    for key, value in payload.items():
        if isinstance(value, Mapping) and "contents" in value:
            filename = str(value.get("filename") or key)
            mime = str(value.get("content_type") or "application/octet-stream")
            parts.append((str(key), (filename, _to_bytes(value["contents"]), mime)))
        elif isinstance(value, list | tuple):
            parts.extend((str(key), (None, _to_bytes(item))) for item in value)
        else:
            # (None, value) is a plain form field; httpx then still sends multipart,
            # which the receiving API expects even when there is no file.
            parts.append((str(key), (None, _to_bytes(value))))
    return parts


def _basic_auth(value: Any) -> str | None:
    value = _maybe_json(value)
    if isinstance(value, str):
        if not value.strip():
            return None
        user, _, password = value.partition(":")
    elif isinstance(value, list | tuple) and len(value) == 2:
        user, password = ("" if part is None else str(part) for part in value)
    elif value in (None, [], ()):
        return None
    else:
        raise ActionError('basic_auth: must be "user:password" or ["user", "password"]')
    if not user and not password:
        return None
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url[:60]
    except ValueError:
        return url[:60]


def _output_body(method: str, response: EgressResponse) -> Any:
    """JSON when the server says so or the body looks like a JSON object/array; text otherwise."""
    if method == "head" or not response.body:
        return ""
    if response.is_json or response.text.lstrip()[:1] in ("{", "["):
        parsed = response.json
        if parsed is not None or response.body.strip() == b"null":
            return parsed
    return response.text


def _snippet(response: EgressResponse, limit: int = 200) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _request(ctx: RunContext) -> tuple[str, str, dict[str, Any]]:
    """(method, url, egress keyword arguments) from the rendered options; nothing is sent."""
    url = ctx.option("url")
    if not isinstance(url, str) or not url.strip():
        raise ActionError(f"url: is empty after rendering (got {url!r})")
    url = url.strip()

    method_option = ctx.option("method")
    method = str(method_option).strip().lower() if method_option not in (None, "") else DEFAULT_METHOD
    if method not in METHODS:
        raise ActionError(f"method: must be one of {', '.join(METHODS)} (got {method_option!r})")

    headers: dict[str, str] = {}
    raw_headers = _maybe_json(ctx.option("headers"))
    if isinstance(raw_headers, Mapping):
        headers = {str(k): to_text(v) for k, v in raw_headers.items() if v is not None}
    elif raw_headers not in (None, ""):
        raise ActionError("headers: must be an object of header names to values")
    lower = {name.lower() for name in headers}

    authorization = _basic_auth(ctx.option("basic_auth"))
    if authorization is not None:
        # The dedicated option is more specific than a header typed by hand.
        for name in [n for n in headers if n.lower() == "authorization"]:
            del headers[name]
        headers["Authorization"] = authorization

    user_agent = ctx.option("user_agent")
    if user_agent and "user-agent" not in lower:
        headers["User-Agent"] = str(user_agent)

    timeout: float | None = None
    timeout_option = ctx.option("timeout")
    if timeout_option not in (None, ""):
        timeout = to_number(timeout_option)
        if timeout is None or timeout <= 0:
            raise ActionError(f"timeout: must be a positive number of seconds (got {timeout_option!r})")

    payload = ctx.option("payload")
    params: Any = None
    content: bytes | None = None
    data: dict[str, Any] | None = None
    files: Any = None

    if method in QUERY_METHODS:
        payload = _maybe_json(payload)
        if isinstance(payload, Mapping):
            # Payload keys replace same-named keys already in the URL's query.
            params = _fields(payload) or None
        elif isinstance(payload, str) and payload.strip():
            params = httpx.QueryParams(payload.strip().lstrip("?"))
    elif payload is not None:
        ct_option = ctx.option("content_type")
        if ct_option in (None, ""):
            ct_option = ctx.option("content-type")
        ct = str(ct_option).strip() if ct_option not in (None, "") else "json"
        kind = ct.lower()
        if "/" in kind:
            mime = ct
            kind = (
                "json"
                if "json" in kind
                else "form"
                if "x-www-form-urlencoded" in kind
                else "data"
                if kind.startswith("multipart/form-data")
                else "raw"
            )
        elif kind in CONTENT_TYPES:
            mime = CONTENT_TYPES[kind]
        else:
            names = ", ".join(sorted(CONTENT_TYPES))
            raise ActionError(f"content_type: must be one of {names} or a full MIME type (got {ct_option!r})")

        if kind in ("json", "application_json"):
            content = _json_bytes(payload)
        elif kind == "form":
            payload = _maybe_json(payload)
            if isinstance(payload, Mapping):
                data = _fields(payload)
            else:
                content = _to_bytes(payload)
        elif kind == "data":
            payload = _maybe_json(payload)
            if isinstance(payload, Mapping):
                files = _multipart(payload)
                mime = ""  # httpx writes multipart/form-data with its boundary
            else:
                content = _to_bytes(payload)
        elif kind == "xml" and not isinstance(payload, str):
            raise ActionError("payload: must be XML text when content_type is xml")
        else:  # xml, text, other MIME types: strings as written, structures as JSON
            content = _json_bytes(payload)
        if mime and "content-type" not in lower:
            headers["Content-Type"] = mime

    return method, url, {
        "headers": headers, "params": params, "content": content, "data": data, "files": files,
        "timeout": timeout, "verify": not option_flag(ctx.option("disable_ssl_verification")),
        "follow_redirects": not option_flag(ctx.option("disable_redirect_follow")),
    }


async def _send(ctx: RunContext, egress: Egress) -> tuple[str, EgressResponse, str]:
    """Render the options into a request and send it: (method, response, host for messages)."""
    method, url, kwargs = _request(ctx)
    carrying = ctx.secrets.carried() if ctx.secrets is not None else ()
    try:
        response = await egress.request(method.upper(), url, carrying=carrying, **kwargs)
    except EgressError as exc:
        raise ActionError(str(exc), retryable=exc.retryable) from None
    return method, response, _host(url)


async def run(ctx: RunContext) -> Result:
    """Send the request described by the rendered options and emit the response."""
    egress = ctx.egress
    if egress is None:
        raise ActionError("http request: no egress client configured for this worker")

    method, response, host = await _send(ctx, egress)
    if response.status == 401 and ctx.secrets is not None and await ctx.secrets.renew():
        # An expired or revoked token: renewed once, the request is worth one more try.
        method, response, host = await _send(ctx, egress)

    status = response.status
    if status == 429 or _status_in(status, _statuses(ctx.option("retry_on_status"))):
        wait = retry_after_seconds(response.headers.get("retry-after"), ctx.now)
        when = f"after {wait:g}s (Retry-After)" if wait is not None else "with backoff"
        raise ActionError(
            f"HTTP {status} from {host}: retrying {when} (attempt {ctx.attempt})",
            retryable=True,
            retry_after=wait,
        )
    check = ctx.option("response_check")
    if check not in (None, ""):
        if str(check) not in RESPONSE_CHECKS:
            raise ActionError(f"response_check: must be one of {', '.join(sorted(RESPONSE_CHECKS))} (got {check!r})")
        RESPONSE_CHECKS[str(check)](response, host, ctx)
    if not 200 <= status < 300 and option_flag(ctx.option("fail_on_status")):
        raise ActionError(f"HTTP {status} from {host} (fail_on_status): {_snippet(response)}")

    logs: list[str] = []
    if _status_in(status, _statuses(ctx.option("log_error_on_status"))):
        logs.append(f"error: HTTP {status} from {host}: {_snippet(response)}")

    output = {"body": _output_body(method, response), "headers": response.headers, "status": status}
    return Result(events=[output], logs=logs)

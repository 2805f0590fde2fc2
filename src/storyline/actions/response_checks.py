"""HTTP Request ``response_check`` values: APIs whose errors do not show in the HTTP status.

Each check raises ActionError to fail the action or, ``retryable``, to try it again;
``storyline.actions.plugins`` lists them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from storyline.actions.base import ActionError, RunContext
from storyline.egress.response import EgressResponse, retry_after_seconds

ResponseCheck = Callable[[EgressResponse, str, RunContext], None]
"""Called with the response, the host it came from and the action's context, after the 429 check."""


def slack(response: EgressResponse, host: str, ctx: RunContext) -> None:
    """``response_check: slack``: fail on ``ok: false`` with Slack's code; retry when rate limited.

    Slack answers most failures with HTTP 200 and ``{"ok": false, "error": CODE}``;
    ``ratelimited`` is retried after Retry-After (HTTP 429 is retried by every HTTP
    Request already); incoming webhooks and ``response_url`` answer errors as a status
    and a plain-text code.
    """
    body = response.json if response.body.lstrip().startswith(b"{") else None
    if isinstance(body, Mapping) and body.get("ok") is False:
        error = str(body.get("error") or "unknown_error")
        if error in ("ratelimited", "rate_limited"):
            wait = retry_after_seconds(response.headers.get("retry-after"), ctx.now)
            when = f"after {wait:g}s (Retry-After)" if wait is not None else "with backoff"
            raise ActionError(f"Slack {error} from {host}: retrying {when} (attempt {ctx.attempt})",
                              retryable=True, retry_after=wait)
        needed = f" (needed scope: {body['needed']})" if body.get("needed") else ""
        raise ActionError(f"Slack error from {host}: {error}{needed}")
    if response.status >= 500:
        raise ActionError(f"Slack answered HTTP {response.status} from {host}: retrying", retryable=True)
    if not 200 <= response.status < 300:
        code = " ".join(response.text.split())[:100] or "no reason given"
        raise ActionError(f"Slack error from {host}: HTTP {response.status} {code}")

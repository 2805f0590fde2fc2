"""The one place a webhook's URL is spelled, so every command prints the URL the server answers.

A secretless webhook is served at ``/webhook/<path>`` exactly: ``/webhook/<path>/`` would be
a redirect (307) that Slack, Teams and most senders do not follow. Depends on nothing in
storyline, so the store, the CLI and the chat consoles can all use it.
"""

from __future__ import annotations

from urllib.parse import quote


def webhook_url(public_url: str, path: str, secret: str | None = None) -> str:
    """``<public_url>/webhook/<path>[/<secret>]``; an empty ``public_url`` gives the path alone.

    Each part is percent-encoded, so a secret holding ``?``, ``#`` or a space is still part of
    the path the server matches rather than a query or fragment the sender drops.
    """
    url = f"{public_url.rstrip('/')}/webhook/{quote(path, safe='')}"
    return f"{url}/{quote(secret, safe='')}" if secret else url

"""What an HTTP exchange that produced no usable response raises, and whether trying again may help.

Actions, verifiers and the mail clients catch these without needing the HTTP client itself.
"""

from __future__ import annotations


class EgressError(Exception):
    """An HTTP exchange that produced no usable response.

    ``retryable`` says whether trying again later may help (network trouble, timeouts)
    or not (a malformed URL, an oversized response); ``host`` is the host the story
    asked for, safe to show (never the query string, which often carries API keys).
    """

    retryable = False
    """Whether trying again later may help: decided for every failure in ``Egress._failure``."""

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class EgressTimeout(EgressError):
    """The server did not answer in time (Tines reports these as status 0)."""

    retryable = True


class EgressConnectionError(EgressError):
    """No connection or a broken one: refused, reset, DNS failure, protocol error."""

    retryable = True


class ResponseTooLarge(EgressError):
    """The body exceeded ``max_response_bytes``; reading stopped there to protect memory."""


class EgressRefused(EgressError):
    """The SSRF guard refused the destination (or a redirect's), or a credential may not go there;
    asking again will not help."""

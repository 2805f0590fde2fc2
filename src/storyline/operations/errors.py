"""Errors an operation raises for a caller's mistake: each knows its HTTP status and says what to do.

The API answers them as ``{"error": message, "detail": detail}`` with ``status``; the console shows
the message. Anything else that escapes an operation is a bug, answered 500 without detail.
"""

from __future__ import annotations

from typing import Any

from storyline.accounts.roles import LEAST_ROLE, Permission


class OperationError(Exception):
    status = 400
    caller_error = True
    """The caller's mistake: the database writer rolls back without logging it as a failure."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Unauthorized(OperationError):
    """No login, or a token or session that is not (or no longer) valid."""

    status = 401


class Forbidden(OperationError):
    """Signed in, but the role lacks the permission: the detail names the role needed."""

    status = 403

    @classmethod
    def lacking(cls, permission: Permission) -> Forbidden:
        role = LEAST_ROLE[permission]
        return cls(f"this needs the {role} role ({permission})", {"permission": str(permission),
                                                                  "role_needed": str(role)})


class NotFound(OperationError):
    status = 404


class Conflict(OperationError):
    """The change clashes with what exists (a story with that guid, a webhook path taken)."""

    status = 409


class Invalid(OperationError):
    """The input is well-formed JSON but not acceptable: the detail names the action and option."""

    status = 422


class TooMany(OperationError):
    """Throttled: try again after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int, detail: Any = None) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after

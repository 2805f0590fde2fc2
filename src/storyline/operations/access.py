"""The one check every operation makes before it reads or changes anything."""

from __future__ import annotations

from storyline.accounts.roles import Permission, Principal, allowed
from storyline.operations.errors import Forbidden, Unauthorized


def require(principal: Principal | None, permission: Permission) -> Principal:
    """The principal, when it may do ``permission``; 401 when there is none, 403 naming the role needed."""
    if principal is None:
        raise Unauthorized("sign in, or send an API token as `Authorization: Bearer stl_...`")
    if not allowed(principal.role, permission):
        raise Forbidden.lacking(permission)
    return principal

"""Roles as data: what a viewer, an editor and an admin may do, and who is acting.

The web layer asks ``allowed(principal.role, Permission.X)`` before it does X; the table
below is the one place that answers. Each role may do everything the one below it may.
No permission reads a credential's value back: nobody can, whatever their role.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class Permission(StrEnum):
    # viewer: reads what stories did
    STORIES_READ = "stories.read"
    RUNS_READ = "runs.read"
    EVENTS_READ = "events.read"
    LOGS_READ = "logs.read"
    RESOURCES_READ = "resources.read"
    # editor: changes stories
    STORIES_WRITE = "stories.write"  # import, edit, enable, disable, delete
    WEBHOOK_SECRETS_READ = "webhook_secrets.read"  # export, webhook URLs with their secrets
    EVENTS_REEMIT = "events.reemit"
    # admin: what stories run with, and who may act
    CREDENTIALS_READ = "credentials.read"  # names, kinds, allowed hosts; never a value
    CREDENTIALS_WRITE = "credentials.write"
    RESOURCES_WRITE = "resources.write"
    PACKS_INSTALL = "packs.install"
    USERS_MANAGE = "users.manage"
    TOKENS_MANAGE = "tokens.manage"
    AUDIT_READ = "audit.read"


LEAST_ROLE: dict[Permission, Role] = {
    Permission.STORIES_READ: Role.VIEWER,
    Permission.RUNS_READ: Role.VIEWER,
    Permission.EVENTS_READ: Role.VIEWER,
    Permission.LOGS_READ: Role.VIEWER,
    Permission.RESOURCES_READ: Role.VIEWER,
    Permission.STORIES_WRITE: Role.EDITOR,
    Permission.WEBHOOK_SECRETS_READ: Role.EDITOR,
    Permission.EVENTS_REEMIT: Role.EDITOR,
    Permission.CREDENTIALS_READ: Role.ADMIN,
    Permission.CREDENTIALS_WRITE: Role.ADMIN,
    Permission.RESOURCES_WRITE: Role.ADMIN,
    Permission.PACKS_INSTALL: Role.ADMIN,
    Permission.USERS_MANAGE: Role.ADMIN,
    Permission.TOKENS_MANAGE: Role.ADMIN,
    Permission.AUDIT_READ: Role.ADMIN,
}
"""The least role that has each permission (a 403 names it)."""


def parse_role(text: str) -> Role:
    """The role named ``text``; a ValueError that lists the roles otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"no role {text!r}: give one of {', '.join(Role)}") from None


def allowed(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` may do ``permission``; a role storyline does not know (a row from a newer
    version, a typo) may do nothing."""
    try:
        rank = RANK[Role(role)]
    except ValueError:
        return False
    return rank >= RANK[LEAST_ROLE[permission]]


@dataclass(frozen=True)
class Principal:
    """Someone acting: a signed-in user or an API token, or the command line (an operator at the database)."""

    kind: Literal["user", "token", "cli"]
    name: str
    """The user's e-mail address, the token's name, or the operating-system user running the CLI."""
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log names them: ``user:EMAIL``, ``token:NAME`` or ``cli:OS_USER``."""
        return f"{self.kind}:{self.name}"

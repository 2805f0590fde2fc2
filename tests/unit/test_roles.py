"""Who may do what: the role matrix, permission by permission (issue 14's list)."""

from __future__ import annotations

import pytest

from storyline.accounts.roles import LEAST_ROLE, Permission, Principal, Role, allowed, parse_role

P = Permission
V, E, A = Role.VIEWER, Role.EDITOR, Role.ADMIN

# The specification: for each permission, the roles that have it.
MATRIX: dict[Permission, set[Role]] = {
    # viewer reads stories, runs, events, logs, resources
    P.STORIES_READ: {V, E, A},
    P.RUNS_READ: {V, E, A},
    P.EVENTS_READ: {V, E, A},
    P.LOGS_READ: {V, E, A},
    P.RESOURCES_READ: {V, E, A},
    # editor also imports, edits, enables, disables, deletes stories (and sees their webhook secrets), re-emits
    P.STORIES_WRITE: {E, A},
    P.WEBHOOK_SECRETS_READ: {E, A},
    P.EVENTS_REEMIT: {E, A},
    # admin also manages credentials, resources, packs, users, tokens, and reads the audit log
    P.CREDENTIALS_READ: {A},
    P.CREDENTIALS_WRITE: {A},
    P.RESOURCES_WRITE: {A},
    P.PACKS_INSTALL: {A},
    P.USERS_MANAGE: {A},
    P.TOKENS_MANAGE: {A},
    P.AUDIT_READ: {A},
}


def test_the_matrix_names_every_permission() -> None:
    assert set(MATRIX) == set(Permission) == set(LEAST_ROLE)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_each_role_has_exactly_the_permissions_of_the_matrix(role: Role, permission: Permission) -> None:
    assert allowed(role, permission) is (role in MATRIX[permission])
    assert allowed(str(role), permission) is (role in MATRIX[permission])


def test_each_role_may_do_everything_the_role_below_it_may() -> None:
    for lower, higher in ((V, E), (E, A)):
        assert {p for p in Permission if allowed(lower, p)} < {p for p in Permission if allowed(higher, p)}


def test_no_permission_reads_a_credential_value() -> None:
    assert not [p for p in Permission if "value" in p.value or p.value == "credentials.reveal"]


@pytest.mark.parametrize("role", ["", "owner", "ADMIN ", "root"])
def test_a_role_storyline_does_not_know_may_do_nothing(role: str) -> None:
    assert not any(allowed(role, p) for p in Permission)


def test_roles_are_parsed_whatever_their_case_and_an_unknown_one_lists_the_roles() -> None:
    assert parse_role(" Editor ") is Role.EDITOR
    with pytest.raises(ValueError, match="no role 'owner': give one of viewer, editor, admin"):
        parse_role("owner")


def test_the_audit_log_names_a_principal_by_kind_and_name() -> None:
    assert Principal("user", "ana@example.com", Role.ADMIN).actor == "user:ana@example.com"
    assert Principal("token", "soar-sync", Role.VIEWER).actor == "token:soar-sync"

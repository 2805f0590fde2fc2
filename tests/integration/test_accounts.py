"""Users, API tokens, the audit log and its retention, through storyline.accounts, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storyline.accounts import audit
from storyline.accounts.passwords import PasswordError
from storyline.accounts.roles import Principal, Role
from storyline.accounts.tokens import (
    LAST_USED_RESOLUTION,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)
from storyline.accounts.users import (
    AccountError,
    add_user,
    check_login,
    list_users,
    remove_user,
    set_password,
    set_role,
)
from storyline.engine import retention
from storyline.store import tables
from storyline.store.db import make_engine, upgrade

ADMIN = "user:root@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    fresh = make_engine(database_url)
    upgrade(fresh)
    yield fresh
    fresh.dispose()


def actions(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        return [(e["actor"], e["action"], e["target"], e["summary"]) for e in reversed(audit.entries(conn))]


def test_users_are_added_listed_changed_and_removed_and_each_change_is_audited(engine: Engine) -> None:
    with engine.begin() as conn:
        assert add_user(conn, "Ana@Example.com", "admin", PASSWORD, actor=ADMIN) == "ana@example.com"
        add_user(conn, "bob@example.com", Role.VIEWER, PASSWORD, actor=ADMIN)
    with engine.connect() as conn:
        assert [(u["email"], u["role"]) for u in list_users(conn)] == [
            ("ana@example.com", "admin"), ("bob@example.com", "viewer")]
        assert all(set(u) == {"id", "email", "role", "created", "updated"} for u in list_users(conn))
    with engine.begin() as conn:
        assert set_role(conn, "BOB@example.com", "editor", actor=ADMIN) == "bob@example.com"
        set_password(conn, "bob@example.com", "a brand new passphrase", actor=ADMIN)
    with engine.connect() as conn:
        assert check_login(conn, "bob@example.com", "a brand new passphrase") == Principal(
            "user", "bob@example.com", Role.EDITOR)
    with engine.begin() as conn:
        remove_user(conn, "bob@example.com", actor=ADMIN)
        assert [u["email"] for u in list_users(conn)] == ["ana@example.com"]
    assert actions(engine) == [
        (ADMIN, "user.add", "ana@example.com", "role admin"),
        (ADMIN, "user.add", "bob@example.com", "role viewer"),
        (ADMIN, "user.set_role", "bob@example.com", "role viewer -> editor"),
        (ADMIN, "user.set_password", "bob@example.com", "password changed"),
        (ADMIN, "user.remove", "bob@example.com", "role was editor"),
    ]


def test_an_address_names_one_user_whatever_its_case(engine: Engine) -> None:
    with engine.begin() as conn:
        add_user(conn, "ana@example.com", "viewer", PASSWORD, actor=ADMIN)
    with pytest.raises(AccountError, match=r"user ana@example\.com already exists"), engine.begin() as conn:
        add_user(conn, "ANA@example.com", "admin", PASSWORD, actor=ADMIN)


def test_a_short_password_is_refused_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(PasswordError, match="at least 12 characters"), engine.begin() as conn:
        add_user(conn, "ana@example.com", "admin", "short", actor=ADMIN)
    with engine.begin() as conn:
        add_user(conn, "bob@example.com", "admin", PASSWORD, actor=ADMIN)
    with pytest.raises(PasswordError), engine.begin() as conn:
        set_password(conn, "bob@example.com", "tiny", actor=ADMIN)
    with engine.connect() as conn:
        assert [u["email"] for u in list_users(conn)] == ["bob@example.com"]
        assert check_login(conn, "bob@example.com", PASSWORD) is not None
    assert [a[1] for a in actions(engine)] == ["user.add"]


def test_the_last_admin_can_be_neither_removed_nor_demoted(engine: Engine) -> None:
    with engine.begin() as conn:
        add_user(conn, "ana@example.com", "admin", PASSWORD, actor=ADMIN)
    for change in (lambda c: remove_user(c, "ana@example.com", actor=ADMIN),
                   lambda c: set_role(c, "ana@example.com", "editor", actor=ADMIN)):
        with pytest.raises(AccountError, match=r"ana@example\.com is the only admin .* make another user admin first"), \
                engine.begin() as conn:
            change(conn)
    with engine.begin() as conn:
        add_user(conn, "bob@example.com", "admin", PASSWORD, actor=ADMIN)
        set_role(conn, "ana@example.com", "viewer", actor=ADMIN)
        remove_user(conn, "ana@example.com", actor=ADMIN)


def test_changing_a_user_that_does_not_exist_says_how_to_find_them(engine: Engine) -> None:
    with pytest.raises(AccountError, match=r"no user nobody@example\.com; `storyline user list` shows them"), \
            engine.begin() as conn:
        set_role(conn, "nobody@example.com", "admin", actor=ADMIN)


def test_a_login_needs_the_address_and_its_password(engine: Engine) -> None:
    with engine.begin() as conn:
        add_user(conn, "ana@example.com", "editor", PASSWORD, actor=ADMIN)
    with engine.connect() as conn:
        assert check_login(conn, "ANA@example.com ", PASSWORD) == Principal("user", "ana@example.com", Role.EDITOR)
        assert check_login(conn, "ana@example.com", PASSWORD.upper()) is None
        assert check_login(conn, "bob@example.com", PASSWORD) is None
        assert check_login(conn, "not an address", PASSWORD) is None
        assert check_login(conn, "ana@example.com", "x" * 100_000) is None


def test_a_new_password_ends_the_users_browser_sessions(engine: Engine) -> None:
    now = time.time()
    with engine.begin() as conn:
        add_user(conn, "ana@example.com", "admin", PASSWORD, actor=ADMIN)
        user_id = conn.execute(sa.select(tables.users.c.id)).scalar_one()
        conn.execute(tables.sessions.insert(), [
            {"id_hash": f"{n:064x}", "user_id": user_id, "created_at": now, "last_seen_at": now,
             "expires_at": now + 3600} for n in range(2)])
        set_password(conn, "ana@example.com", "another good passphrase", actor=ADMIN)
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sessions)).scalar_one() == 0
    assert actions(engine)[-1][3] == "password changed; 2 browser sessions ended"


def test_a_token_authenticates_with_its_role_until_it_is_revoked(engine: Engine) -> None:
    with engine.begin() as conn:
        token = create_token(conn, "soar-sync", "editor", actor=ADMIN)
    assert token.startswith("stl_") and len(token) == 47
    with engine.begin() as conn:
        assert authenticate_token(conn, token) == Principal("token", "soar-sync", Role.EDITOR)
        stored = conn.execute(sa.select(tables.api_tokens)).mappings().one()
        assert token not in str(dict(stored)) and token[4:] not in str(dict(stored))
        revoke_token(conn, "soar-sync", actor=ADMIN)
    with engine.begin() as conn:
        assert authenticate_token(conn, token) is None
        with pytest.raises(AccountError, match="no token named 'soar-sync'"):
            revoke_token(conn, "soar-sync", actor=ADMIN)
    assert actions(engine) == [(ADMIN, "token.create", "soar-sync", "role editor"),
                               (ADMIN, "token.revoke", "soar-sync", "role was editor")]


@pytest.mark.parametrize("presented", ["", "stl_", "Bearer x", "stl_" + "A" * 43, "stl_" + "A" * 44, "ghp_" + "A" * 43])
def test_what_is_not_a_live_token_is_turned_away(engine: Engine, presented: str) -> None:
    with engine.begin() as conn:
        create_token(conn, "ci", "admin", actor=ADMIN)
        assert authenticate_token(conn, presented) is None


def test_a_tokens_last_use_is_kept_but_written_at_most_once_a_minute(engine: Engine) -> None:
    t0 = 1_800_000_000.0
    with engine.begin() as conn:
        token = create_token(conn, "ci", "viewer", actor=ADMIN, now=t0)
        assert list_tokens(conn)[0]["last_used"] is None
        authenticate_token(conn, token, now=t0 + 10)
        assert list_tokens(conn)[0]["last_used"] == "2027-01-15T08:00:10.000Z"
        authenticate_token(conn, token, now=t0 + 10 + LAST_USED_RESOLUTION - 1)
        assert list_tokens(conn)[0]["last_used"] == "2027-01-15T08:00:10.000Z"
        authenticate_token(conn, token, now=t0 + 10 + LAST_USED_RESOLUTION + 1)
        assert list_tokens(conn)[0]["last_used"] == "2027-01-15T08:01:11.000Z"
        assert list_tokens(conn) == [{"name": "ci", "role": "viewer", "created_by": ADMIN,
                                      "created": "2027-01-15T08:00:00.000Z", "last_used": "2027-01-15T08:01:11.000Z"}]


def test_token_names_are_unique_and_plain(engine: Engine) -> None:
    with engine.begin() as conn:
        create_token(conn, "ci", "viewer", actor=ADMIN)
    with pytest.raises(AccountError, match="a token named 'ci' exists; revoke it first"), engine.begin() as conn:
        create_token(conn, "ci", "admin", actor=ADMIN)
    with pytest.raises(AccountError, match="must be 1 to 64 letters"), engine.begin() as conn:
        create_token(conn, "ci\nadmin", "admin", actor=ADMIN)


def test_audit_entries_are_listed_newest_first_and_purged_after_the_keep_period(engine: Engine) -> None:
    now = time.time()
    day = 86400
    with engine.begin() as conn:
        for age in (40, 31, 29, 0):
            audit.record(conn, "cli:ops", "resource.set", f"aged-{age}", "created", now=now - age * day)
    with engine.begin() as conn:
        assert [e["target"] for e in audit.entries(conn, limit=3)] == ["aged-0", "aged-29", "aged-31"]
        retention.purge(conn, now, audit_keep_days=30)
        assert [e["target"] for e in audit.entries(conn)] == ["aged-0", "aged-29"]
        retention.purge(conn, now)  # the default keeps a year
        assert len(audit.entries(conn)) == 2


def test_expired_browser_sessions_are_purged(engine: Engine) -> None:
    now = time.time()
    with engine.begin() as conn:
        add_user(conn, "ana@example.com", "admin", PASSWORD, actor=ADMIN)
        user_id = conn.execute(sa.select(tables.users.c.id)).scalar_one()
        conn.execute(tables.sessions.insert(), [
            {"id_hash": name, "user_id": user_id, "created_at": now - 7200, "last_seen_at": now - 7200,
             "expires_at": expires} for name, expires in (("old", now - 1), ("live", now + 3600))])
        retention.purge(conn, now)
        assert list(conn.execute(sa.select(tables.sessions.c.id_hash)).scalars()) == ["live"]

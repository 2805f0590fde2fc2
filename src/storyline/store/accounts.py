"""Users, API tokens and browser sessions: the SQL under ``storyline.accounts``.

Nothing here hashes, checks or audits; ``storyline.accounts`` does, and passes in
only digests (argon2id for passwords, SHA-256 for tokens and session ids).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from storyline.store import tables as t

u, k, s, f = t.users.c, t.api_tokens.c, t.sessions.c, t.login_failures.c


def find_user(conn: Connection, email: str) -> Row[*tuple[Any, ...]] | None:
    return conn.execute(sa.select(u.id, u.email, u.role, u.password_hash).where(u.email == email)).first()


def insert_user(conn: Connection, email: str, role: str, password_hash: str, now: float) -> None:
    conn.execute(t.users.insert().values(email=email, role=role, password_hash=password_hash,
                                         created_at=now, updated_at=now))


def update_user(conn: Connection, email: str, now: float, **values: Any) -> bool:
    return conn.execute(t.users.update().where(u.email == email).values(updated_at=now, **values)).rowcount > 0


def delete_user(conn: Connection, email: str) -> bool:
    """Delete the user and their browser sessions."""
    user = find_user(conn, email)
    if user is None:
        return False
    end_sessions(conn, user.id)
    return conn.execute(t.users.delete().where(u.id == user.id)).rowcount > 0


def find_user_by_id(conn: Connection, user_id: int) -> Row[*tuple[Any, ...]] | None:
    return conn.execute(sa.select(u.id, u.email, u.role, u.password_hash).where(u.id == user_id)).first()


def list_users(conn: Connection, *, after: str | None = None, limit: int | None = None,
               email: str | None = None) -> list[Row[*tuple[Any, ...]]]:
    """Users by address (after ``after``, at most ``limit``; the one with ``email``)."""
    query = sa.select(u.id, u.email, u.role, u.created_at, u.updated_at).order_by(u.email).limit(limit)
    if email is not None:
        query = query.where(u.email == email)
    return list(conn.execute(query if after is None else query.where(u.email > after)))


def any_user(conn: Connection) -> bool:
    return conn.execute(sa.select(u.id).limit(1)).first() is not None


def count_admins(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.users).where(u.role == "admin")).scalar_one())


def end_sessions(conn: Connection, user_id: int) -> int:
    """Delete every browser session of the user (a new password signs them out everywhere)."""
    return conn.execute(t.sessions.delete().where(s.user_id == user_id)).rowcount


def purge_sessions(conn: Connection, now: float) -> int:
    return conn.execute(t.sessions.delete().where(s.expires_at < now)).rowcount


def insert_session(conn: Connection, id_hash: str, user_id: int, now: float, expires_at: float) -> None:
    conn.execute(t.sessions.insert().values(id_hash=id_hash, user_id=user_id, created_at=now, last_seen_at=now,
                                            expires_at=expires_at))


def find_session(conn: Connection, id_hash: str) -> Row[*tuple[Any, ...]] | None:
    """The session and its user (address, role), or None."""
    return conn.execute(
        sa.select(s.id_hash, s.created_at, s.last_seen_at, s.expires_at, u.id.label("user_id"), u.email, u.role)
        .join(t.users, u.id == s.user_id)
        .where(s.id_hash == id_hash)
    ).first()


def touch_session(conn: Connection, id_hash: str, now: float, expires_at: float, unless_since: float) -> None:
    """Set the session's last request to ``now`` unless it was set at or after ``unless_since``."""
    conn.execute(t.sessions.update().where(s.id_hash == id_hash, s.last_seen_at < unless_since)
                 .values(last_seen_at=now, expires_at=expires_at))


def delete_session(conn: Connection, id_hash: str) -> bool:
    return conn.execute(t.sessions.delete().where(s.id_hash == id_hash)).rowcount > 0


def insert_login_failures(conn: Connection, keys: list[str], now: float) -> None:
    conn.execute(t.login_failures.insert(), [{"key": key, "created_at": now} for key in keys])


def nth_newest_failure(conn: Connection, key: str, since: float, n: int) -> float | None:
    """When the ``n``-th newest failure of ``key`` after ``since`` happened (None: fewer than ``n``)."""
    return conn.execute(
        sa.select(f.created_at).where(f.key == key, f.created_at > since)
        .order_by(f.created_at.desc()).offset(n - 1).limit(1)
    ).scalar()


def clear_login_failures(conn: Connection, key: str) -> int:
    return conn.execute(t.login_failures.delete().where(f.key == key)).rowcount


def purge_login_failures(conn: Connection, before: float) -> int:
    return conn.execute(t.login_failures.delete().where(f.created_at < before)).rowcount


def insert_token(conn: Connection, name: str, role: str, token_hash: str, created_by: str | None,
                 now: float) -> None:
    conn.execute(t.api_tokens.insert().values(name=name, role=role, token_hash=token_hash,
                                              created_by=created_by, created_at=now))


def token_exists(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(k.id).where(k.name == name)).first() is not None


def find_token(conn: Connection, token_hash: str) -> Row[*tuple[Any, ...]] | None:
    return conn.execute(sa.select(k.id, k.name, k.role, k.last_used_at).where(k.token_hash == token_hash)).first()


def touch_token(conn: Connection, token_id: int, now: float, unless_since: float) -> None:
    """Set the token's last use to ``now`` unless it was set at or after ``unless_since``."""
    conn.execute(
        t.api_tokens.update()
        .where(k.id == token_id, sa.or_(k.last_used_at.is_(None), k.last_used_at < unless_since))
        .values(last_used_at=now)
    )


def list_tokens(conn: Connection, *, after: str | None = None, limit: int | None = None
                ) -> list[Row[*tuple[Any, ...]]]:
    """Tokens by name (after ``after``, at most ``limit``); never their digests."""
    query = sa.select(k.name, k.role, k.created_by, k.created_at, k.last_used_at).order_by(k.name).limit(limit)
    return list(conn.execute(query if after is None else query.where(k.name > after)))


def delete_token(conn: Connection, name: str) -> Row[*tuple[Any, ...]] | None:
    """Delete the token and return its name and role, or None when there is none by that name."""
    row = conn.execute(sa.select(k.id, k.name, k.role).where(k.name == name)).first()
    if row is not None:
        conn.execute(t.api_tokens.delete().where(k.id == row.id))
    return row

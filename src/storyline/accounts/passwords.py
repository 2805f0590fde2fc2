"""Passwords: a minimum length, and argon2id hashes (RFC 9106's low-memory profile, argon2-cffi's default).

argon2id is memory-hard, so guessing a leaked hash costs an attacker memory as well as
time on every try; people choose guessable passwords, which is what the cost is for.
``STORYLINE_PASSWORD_HASH`` lowers it for test suites only (``config.password_hash_cost``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from storyline.config import password_hash_cost

MIN_LENGTH = 12
MAX_LENGTH = 1024
"""Long enough for any passphrase or manager-made password; longer is hostile input."""


class PasswordError(ValueError):
    """A password storyline will not take; the message says what one needs (never the password)."""


RECOMMENDED = RFC_9106_LOW_MEMORY
"""argon2id, 3 passes over 64 MiB in 4 lanes: RFC 9106's choice where 2 GiB per hash is too much."""


def _hasher() -> PasswordHasher:
    return _hasher_costing(password_hash_cost())


@functools.lru_cache(maxsize=4)
def _hasher_costing(cost: tuple[int, int, int] | None) -> PasswordHasher:
    if cost is None:
        return PasswordHasher.from_parameters(RECOMMENDED)
    time_cost, memory_kib, parallelism = cost
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                          hash_len=RECOMMENDED.hash_len, salt_len=RECOMMENDED.salt_len)


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters; choose a longer one "
                            "(a few words make a good one)")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password may have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """Check ``password`` (raises :class:`PasswordError`) and return its argon2id hash, salt and parameters included."""
    check_password(password)
    return _hasher().hash(password)


@dataclass(frozen=True, repr=False)
class Hashed:
    """A password already checked and hashed: a server hashes before it takes the database writer, where
    argon2id's tens of milliseconds would hold up every webhook's acknowledgement."""

    value: str


def hashed(password: str | Hashed) -> str:
    """The hash to store for ``password`` (checked and hashed now unless it already is)."""
    return password.value if isinstance(password, Hashed) else hash_password(password)


def rehash(password: str) -> str:
    """A new hash of a password that was accepted when it was set (rules made stricter since do not lock it out)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash it at the next login)."""
    return _hasher().check_needs_rehash(password_hash)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when there is no such user, so a login takes as long either way."""
    return _hasher().hash("storyline: no such user")

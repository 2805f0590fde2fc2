"""Passwords, e-mail addresses and the audit log's keep period: the parts of accounts without a database."""

from __future__ import annotations

import hashlib
import re

import argon2
import pytest

from storyline.accounts.passwords import (
    MIN_LENGTH,
    PasswordError,
    hash_password,
    needs_rehash,
    verify_password,
)
from storyline.accounts.tokens import hash_token
from storyline.accounts.users import AccountError, normalise_email
from storyline.config import PASSWORD_HASH_ENV, Settings


def test_a_password_shorter_than_the_minimum_is_refused_saying_how_long_one_must_be() -> None:
    short = "x" * (MIN_LENGTH - 1)
    with pytest.raises(PasswordError, match=f"at least {MIN_LENGTH} characters") as raised:
        hash_password(short)
    assert short not in str(raised.value)
    hash_password("x" * MIN_LENGTH)


def test_a_password_is_hashed_with_argon2id_salted_and_verifies_only_itself() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first.startswith("$argon2id$") and first != second
    assert "correct horse battery" not in first
    assert verify_password(first, "correct horse battery")
    assert not verify_password(first, "correct horse battery!")
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(first)


def test_unless_told_otherwise_passwords_are_hashed_with_rfc_9106s_low_memory_argon2id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PASSWORD_HASH_ENV, raising=False)
    hashed = hash_password("correct horse battery")
    assert argon2.extract_parameters(hashed) == argon2.profiles.RFC_9106_LOW_MEMORY
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # 64 MiB, 3 passes, 4 lanes
    assert verify_password(hashed, "correct horse battery") and not needs_rehash(hashed)


def test_the_hash_cost_setting_makes_cheaper_hashes_that_the_recommended_cost_would_redo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_HASH_ENV, "t=1,m=64,p=1")
    cheap = hash_password("correct horse battery")
    assert cheap.startswith("$argon2id$v=19$m=64,t=1,p=1$") and verify_password(cheap, "correct horse battery")
    assert not needs_rehash(cheap)
    monkeypatch.delenv(PASSWORD_HASH_ENV)
    assert needs_rehash(cheap) and verify_password(cheap, "correct horse battery")


@pytest.mark.parametrize(("given", "said"), [
    ("3", "is not of the form"), ("t=3,m=65536", "give t, m and p"), ("t=0,m=65536,p=4", "t >= 1"),
    ("t=1,m=8,p=4", "m >= 8 * p"), ("t=x,m=64,p=1", "is not of the form"),
])
def test_a_hash_cost_argon2id_cannot_take_stops_the_process_at_start_saying_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, given: str, said: str,
) -> None:
    monkeypatch.setenv(PASSWORD_HASH_ENV, given)
    with pytest.raises(SystemExit, match=re.escape(said)):
        Settings.from_env()


@pytest.mark.parametrize(("given", "stored"), [
    ("Ana@Example.COM", "ana@example.com"),
    ("  bob@example.com\n", "bob@example.com"),
    ("demo@localhost", "demo@localhost"),
])
def test_addresses_are_stored_trimmed_and_lower_cased(given: str, stored: str) -> None:
    assert normalise_email(given) == stored


@pytest.mark.parametrize("given", ["", "ana", "@example.com", "ana@", "a@b@c", "ana smith@example.com",
                                   "ana@exa\x00mple.com", "a" * 250 + "@example.com"])
def test_what_is_not_an_address_is_refused(given: str) -> None:
    with pytest.raises(AccountError, match="is not an e-mail address"):
        normalise_email(given)


def test_a_token_is_stored_as_its_sha256_digest() -> None:
    assert hash_token("stl_abc") == hashlib.sha256(b"stl_abc").hexdigest()


def test_the_audit_log_keeps_a_year_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORYLINE_AUDIT_KEEP_DAYS", raising=False)
    assert Settings.from_env().audit_keep_days == 365
    monkeypatch.setenv("STORYLINE_AUDIT_KEEP_DAYS", "30")
    assert Settings.from_env().audit_keep_days == 30


@pytest.mark.parametrize("value", ["0", "-1", "a year"])
def test_a_keep_period_that_is_not_a_positive_number_of_days_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STORYLINE_AUDIT_KEEP_DAYS", value)
    with pytest.raises(SystemExit, match="STORYLINE_AUDIT_KEEP_DAYS"):
        Settings.from_env()

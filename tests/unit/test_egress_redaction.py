"""Credential values never reach events or logs: ``redact`` replaces them wherever they appear."""

from __future__ import annotations

from storyline.egress.redaction import PLACEHOLDER, redact


def test_redacts_every_occurrence_in_text() -> None:
    text = "GET /report?apikey=s3cr3t-key&x=1 failed; key s3cr3t-key"
    assert redact(text, ["s3cr3t-key"]) == f"GET /report?apikey={PLACEHOLDER}&x=1 failed; key {PLACEHOLDER}"


def test_short_and_empty_secrets_are_ignored() -> None:
    assert redact("abc 123 true", ["abc", "123", "", "tru"]) == "abc 123 true"


def test_longest_secret_wins_when_secrets_overlap() -> None:
    assert redact("token=abcd1234", ["abcd", "abcd1234"]) == f"token={PLACEHOLDER}"


def test_secrets_are_literal_not_patterns() -> None:
    assert redact("a.b*c+d and axbbcd", ["a.b*c+d"]) == f"{PLACEHOLDER} and axbbcd"


def test_structures_keep_their_shape_and_input_is_untouched() -> None:
    event = {
        "headers": {"authorization": "Bearer xoxb-1234"},
        "list": ["xoxb-1234", 5, None, True],
        "tuple": ("xoxb-1234",),
        "xoxb-1234": "keys are left alone",
    }
    out = redact(event, {"xoxb-1234"})
    assert out == {
        "headers": {"authorization": f"Bearer {PLACEHOLDER}"},
        "list": [PLACEHOLDER, 5, None, True],
        "tuple": (PLACEHOLDER,),
        "xoxb-1234": "keys are left alone",
    }
    assert event["headers"]["authorization"] == "Bearer xoxb-1234"


def test_bytes_stay_bytes() -> None:
    assert redact(b"pw=hunter22\xff", ["hunter22"]) == b"pw=[credential]\xff"
    assert redact(bytearray(b"hunter22"), ["hunter22"]) == bytearray(b"[credential]")


def test_no_secrets_returns_the_same_object() -> None:
    event = {"a": "b"}
    assert redact(event, []) is event
    assert redact(42, ["secret"]) == 42

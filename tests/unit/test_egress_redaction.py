"""Credential values never reach events or logs: ``redact`` replaces them wherever they appear."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from storyline.egress.redaction import PLACEHOLDER, Redactor, redact


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
        "xoxb-1234": "a key is redacted too",
    }
    out = redact(event, {"xoxb-1234"})
    assert out == {
        "headers": {"authorization": f"Bearer {PLACEHOLDER}"},
        "list": [PLACEHOLDER, 5, None, True],
        "tuple": (PLACEHOLDER,),
        PLACEHOLDER: "a key is redacted too",
    }
    assert event["headers"]["authorization"] == "Bearer xoxb-1234"


def test_bytes_stay_bytes() -> None:
    assert redact(b"pw=hunter22\xff", ["hunter22"]) == b"pw=[credential]\xff"
    assert redact(bytearray(b"hunter22"), ["hunter22"]) == bytearray(b"[credential]")


def test_no_secrets_returns_the_same_object() -> None:
    event = {"a": "b"}
    assert redact(event, []) is event
    assert redact(42, ["secret"]) == 42


def test_escaped_forms_of_a_secret_are_redacted() -> None:
    # An HTTP library's error quotes a header value as bytes (b'...'), a log line as repr,
    # an echoing upstream as JSON or URL-encoded: each hides the value from a plain search.
    secret = 'k3y\\with"quote é\n'
    quoted = {
        "bytes repr": f"Illegal header value {secret.encode()!r}",
        "str repr": f"value was {secret!r}",
        "json": json.dumps({"echo": secret}),
        "json, unicode kept": json.dumps({"echo": secret}, ensure_ascii=False),
        "url": f"https://x.example/?k={quote(secret, safe='')}",
        "url, plus for space": f"https://x.example/?k={quote_plus(secret)}",
    }
    for how, text in quoted.items():
        redacted = redact(text, [secret])
        assert PLACEHOLDER in redacted, how
        assert "k3y" not in redacted, how


def test_base64_of_user_and_secret_is_redacted_whatever_the_user() -> None:
    # basic_auth sends base64("user:secret"); where the secret starts decides its spelling.
    secret = "vt-api-key-0123456789"
    for user in ("svc", "", "ab", "a", "service-account"):
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        assert redact(f"authorization: Basic {token}", [secret]) == f"authorization: Basic {PLACEHOLDER}"
    urlsafe = base64.urlsafe_b64encode(f":{secret}?>".encode()).decode()
    assert redact(f"t={urlsafe}&x=1", [secret]) == f"t={PLACEHOLDER}&x=1"


def test_base64_that_does_not_hold_the_secret_is_left_alone() -> None:
    blob = base64.b64encode(bytes(range(256)) * 64).decode()
    assert redact(blob, ["vt-api-key-0123456789"]) == blob


def test_a_redactor_is_built_once_and_says_which_secret_it_found() -> None:
    redactor = Redactor({"xoxb-1234": "[credential:slack]", "vt-key-5678": "[credential:vt]"})
    assert redactor({"a": ["Bearer xoxb-1234"]}) == {"a": ["Bearer [credential:slack]"]}
    assert redactor.find("k=vt-key-5678") == "[credential:vt]"
    assert redactor.find("nothing here") is None
    assert not Redactor({}) and Redactor({}).find("x") is None

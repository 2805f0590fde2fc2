"""Credential encryption, kinds, host allow-lists, and how the vault hides values."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storyline.actions.base import ActionSpec
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher, CredentialKeyError
from storyline.credentials.tokens import Token
from storyline.credentials.vault import Vault

KEY = b"k" * 32


def spec(options: dict[str, Any], action_id: int = 1) -> ActionSpec:
    return ActionSpec(id=action_id, story_id=1, guid="g", name="Call", key="call", type="x", options=options)


def vault_with(*credentials: creds.Credential) -> Vault:
    vault = Vault()
    vault.apply(((), {c.name: c for c in credentials}, {}))
    return vault


# -- encryption ------------------------------------------------------------------------


def test_sealed_secrets_open_with_the_same_key_and_never_repeat_a_nonce() -> None:
    cipher = Cipher(KEY)
    one, two = cipher.seal("vt", {"value": "s3cret-value"}), cipher.seal("vt", {"value": "s3cret-value"})
    assert one != two and b"s3cret" not in one
    assert cipher.open("vt", one) == cipher.open("vt", two) == {"value": "s3cret-value"}


def test_a_wrong_key_says_which_key_to_fix() -> None:
    sealed = Cipher(KEY).seal("vt", {"value": "x"})
    with pytest.raises(CredentialKeyError) as caught:
        Cipher(b"o" * 32, "the key file /data/storyline.db.key").open("vt", sealed)
    assert str(caught.value).startswith(
        "cannot decrypt credentials: the key file /data/storyline.db.key does not match the key they were stored with")
    assert "nothing was changed" in str(caught.value)


def test_a_ciphertext_moved_to_another_name_or_tampered_with_does_not_open() -> None:
    cipher = Cipher(KEY)
    sealed = cipher.seal("vt", {"value": "x"})
    with pytest.raises(CredentialKeyError):
        cipher.open("slack", sealed)
    with pytest.raises(CredentialKeyError):
        cipher.open("vt", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_the_credential_key_is_not_the_master_key() -> None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealed = Cipher(KEY).seal("vt", {"value": "x"})
    with pytest.raises(InvalidTag):
        AESGCM(KEY).decrypt(sealed[:12], sealed[12:], b"vt")


# -- kinds and names -------------------------------------------------------------------


@pytest.mark.parametrize(("make", "message"), [
    (lambda: creds.text("has space", "v"), "must be letters, digits"),
    (lambda: creds.text("vt", ""), "the value is empty"),
    (lambda: creds.text("vt", "v", allowed_hosts=["https://x.com/"]), "must be a host name"),
    (lambda: creds.oauth2("t", token_url="login.example.com", client_id="a", client_secret="b"),
     "--token-url must be an http:// or https:// URL"),
    (lambda: creds.oauth2("t", token_url="https://l.example/t", client_id="", client_secret="b"), "--client-id"),
    (lambda: creds.http_request("s", options={"method": "get"}, token_path="body.k"), "request url: is required"),
    (lambda: creds.http_request("s", options={"url": "https://a.example"}, token_path=""), "--token-path"),
])
def test_bad_credentials_are_refused_naming_the_problem(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: creds.text("vt", "key-from-a-file\n"), "the value contains a line break"),
    (lambda: creds.text("vt", "key\r\n"), "the value contains a line break"),
    (lambda: creds.text("vt", "tab\there"), r"the value contains a control character \(U\+0009\)"),
    (lambda: creds.text("vt", "nul\x00"), r"a control character \(U\+0000\)"),
    (lambda: creds.oauth2("t", token_url="https://l.example/t", client_id="a", client_secret="s3cret\n"),
     "the client secret contains a line break"),
])
def test_a_value_with_a_line_break_or_control_character_is_refused(make: Any, message: str) -> None:
    # It could never be sent in a header, and the HTTP library's error would quote it.
    with pytest.raises(ValueError, match=message) as caught:
        make()
    assert "key" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_allowed_hosts_match_names_and_wildcards_case_insensitively() -> None:
    credential = creds.text("vt", "v", allowed_hosts=["www.virustotal.com", "*.Slack.com"])
    assert credential.allows("www.virustotal.com") and credential.allows("hooks.slack.com")
    assert credential.allows("WWW.VirusTotal.com.")
    assert not credential.allows("virustotal.com.evil.net") and not credential.allows("slack.com")
    assert creds.text("any", "v").allows("anything.example")


# -- the vault -------------------------------------------------------------------------


def test_values_become_the_credential_name_also_when_echoed_encoded() -> None:
    vault = vault_with(creds.text("vt", "abc def/+=1"), creds.text("slack", "xoxb-123-456"))
    event = {"headers": {"authorization": "Bearer xoxb-123-456"},
             "url": "https://x/?k=abc%20def%2F%2B%3D1&j=abc+def%2F%2B%3D1", "body": "echo abc def/+=1"}
    assert vault.redact(event) == {
        "headers": {"authorization": "Bearer [credential:slack]"},
        "url": "https://x/?k=[credential:vt]&j=[credential:vt]",
        "body": "echo [credential:vt]",
    }


def test_tokens_and_client_secrets_are_redacted_and_old_tokens_stay_redacted() -> None:
    vault = vault_with(creds.oauth2("bot", token_url="https://l.example/t", client_id="app",
                                    client_secret="client-secret-1"))
    vault._tokens["bot"] = Token("token-number-one", 0.0, 1e12)
    vault._relabel()
    assert vault.redact("client-secret-1 token-number-one") == "[credential:bot] [credential:bot]"
    vault._retire("bot")
    vault._tokens["bot"] = Token("token-number-two", 0.0, 1e12)
    vault._relabel()
    assert vault.redact("token-number-one token-number-two") == "[credential:bot] [credential:bot]"


def test_nothing_to_hide_returns_the_value_itself() -> None:
    event = {"a": "b"}
    assert Vault().redact(event) is event


def test_the_credentials_an_action_names_are_found_in_every_template_form() -> None:
    vault = Vault()
    options = {"url": "https://x/?k=<<CREDENTIAL.one>>", "headers": {"a": "{%- credential two -%}"},
               "payload": {"b": "{{ .CREDENTIAL.three }}", "c": "{{ CREDENTIAL['four'] }}", "d": "=CREDENTIAL.five"}}
    assert vault.referenced(spec(options)) == {"one", "two", "three", "four", "five"}


def test_an_action_needing_a_token_is_not_ready_until_it_is_fetched() -> None:
    vault = vault_with(creds.oauth2("bot", token_url="https://l.example/t", client_id="a", client_secret="b"),
                       creds.text("vt", "text-value"))
    uses_token = spec({"headers": {"a": "{{.CREDENTIAL.bot}}"}})
    assert vault.ready(spec({"x": "{% credential vt %}"}, 2))
    assert not vault.ready(uses_token)
    vault._tokens["bot"] = Token("tok-tok-tok", 0.0, 1e12)
    assert vault.ready(uses_token)
    vault._tokens["bot"] = Token("tok-tok-tok", 0.0, 1.0)
    assert not vault.ready(uses_token)


def test_a_token_is_renewed_a_tenth_of_its_life_before_expiry_at_most_a_minute() -> None:
    assert Token("t", 0, 100).fresh(89) and not Token("t", 0, 100).fresh(91)
    assert Token("t", 0, 3600).fresh(3539) and not Token("t", 0, 3600).fresh(3541)


def test_a_run_carries_the_credentials_it_rendered_and_where_each_may_go() -> None:
    vault = vault_with(creds.text("vt", "text-value", allowed_hosts=["*.virustotal.com"]),
                       creds.text("free", "other-value"), creds.text("unused", "unused-value"))
    use = vault.use(None)
    assert use.carried() == ()
    assert use["free"] == "other-value" and use["vt"] == "text-value"
    free, vt = use.carried()
    assert (free.name, free.value, free.allowed_hosts) == ("free", "other-value", ())
    assert (vt.name, vt.value, vt.allowed_hosts) == ("vt", "text-value", ("*.virustotal.com",))
    assert vt.allows("www.virustotal.com") and not vt.allows("evil.example")
    assert asyncio.run(use.renew()) is False  # text credentials have nothing to renew


def test_log_lines_and_tracebacks_never_print_a_credential(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from storyline.credentials.logs import redact_logs

    uninstall = redact_logs(vault_with(creds.text("slack", "xoxb-123-456")).redact)
    try:
        try:
            raise RuntimeError("upstream said: bad token xoxb-123-456")
        except RuntimeError:
            logging.getLogger("storyline.test").exception("call with %s failed", "Bearer xoxb-123-456")
    finally:
        uninstall()
    assert "xoxb-123-456" not in caplog.text
    assert "call with Bearer [credential:slack] failed" in caplog.text
    assert "bad token [credential:slack]" in caplog.text

"""Liquid as Tines runs it: every filter, tag and path form the real exports use.

Standard filters come from python-liquid (Shopify semantics, as Tines' Ruby Liquid);
these specs pin the forms stories depend on, and Tines' own additions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from storyline.templating import StaticScope, TemplateError, render_value
from storyline.templating.check import supported_filters, supported_functions, supported_tags

EVENT: dict[str, Any] = {
    "roster": {"body": [{"name": "Ann", "id": "u1", "tags": ["a"]}, {"name": "Bob", "id": "u2", "tags": ["a", "b"]}]},
    "mail": {"body": {"headers": {"Authentication-Results": "spf=pass dkim=fail"}}},
    "csv": {"body": "name,ip\nweb,10.0.0.1\n"},
    "vt": {"body": {"scans": {"A": {"detected": True}, "B": {"detected": False}}}},
}


@pytest.fixture
def scope() -> StaticScope:
    return StaticScope(story_run="run-3", credentials={"key": "k3y"}, resources={"vips": ["ceo"]})


def render(template: str, scope: StaticScope, event: dict[str, Any] | None = None) -> Any:
    return render_value(template, EVENT if event is None else event, scope)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ .roster.body | where: "name", "Bob" | get: "id" }}', "u2"),
        ("{{ .roster.body | map: 'name' | join: ', ' }}", "Ann, Bob"),
        ("{{ .roster.body | map: 'tags' | uniq | size }}", "2"),
        ("{{ .roster.body | jsonpath: '$[*].id' | join: ',' }}", "u1,u2"),
        ("{{ .vt.body | jsonpath: '$.scans.*.detected' | join: ',' }}", "true,false"),
        ("{{ 'hello' | base64_encode }}", "aGVsbG8="),
        ("{{ 'aGVsbG8=' | base64_decode }}", "hello"),
        ("{{ 'a b&c' | url_encode }}", "a+b%26c"),
        ("{{ 1700000000 | date: '%Y-%m-%d %H:%M:%S' }}", "2023-11-14 22:13:20"),
        ("{{ '2024-03-05T10:20:30Z' | date: '%s' }}", "1709634030"),
        ("{{ .csv.body | csv_parse | last | first }}", "web"),
        ("{{ 'x' | default: 'y' }}|{{ .missing | default: 'y' }}", "x|y"),
        ("{{ 5 | plus: 2 | times: 3 | minus: 1 }}", "20"),
        ("{{ 'A-b' | downcase | replace: '-', '_' | upcase }}", "A_B"),
        ("{{ '<p>x</p>' | strip_html }}", "x"),
        ("{{ 'abcdef' | truncate: 4 }}", "a..."),
        ("{% assign n = .roster.body | size %}{{ n }}", "2"),
        ("{% capture who %}{{ .roster.body[0].name }}!{% endcapture %}{{ who }}", "Ann!"),
        ("{% for u in .roster.body %}{{ u.name }}{% unless forloop.last %},{% endunless %}{% endfor %}", "Ann,Bob"),
        ("{% for u in .roster.body %}{{ forloop.index }}{% if forloop.first %}f{% endif %}{% endfor %}", "1f2"),
        ("{% if .mail.body.headers.Authentication-Results contains 'spf=pass' %}pass{% else %}fail{% endif %}", "pass"),
        ("{{ .mail.body.headers['Authentication-Results'] | split: ' ' | first }}", "spf=pass"),
        # Ruby's lax parser: words after a complete comparison (a missing `or`) are ignored.
        ("{% if .mail.body.headers.Authentication-Results contains 'dkim=pass' .mail.body contains 'x' %}1"
         "{% elsif .mail.body.headers.Authentication-Results contains 'dkim=fail' %}2{% endif %}", "2"),
        ("{{ .roster.body[*].id | join: '+' }}", "u1+u2"),
        ("{{ .roster.body.first.name }}/{{ .roster.body.last.name }}/{{ .roster.body.1.name }}", "Ann/Bob/Bob"),
        ("{{ .RESOURCE.vips | as_object }}", ["ceo"]),
        ("{% story_run_guid %}", "run-3"),
        ("a{% line_break %}b", "a\nb"),
    ],
)
def test_corpus_forms(template: str, expected: Any, scope: StaticScope) -> None:
    assert render(template, scope) == expected


def test_hmac_sha1_is_hex_of_the_input_keyed_with_the_argument(scope: StaticScope) -> None:
    expected = hmac.new(b"k3y", b"payload", hashlib.sha1).hexdigest()
    assert render("{{ 'payload' | hmac_sha1: .CREDENTIAL.key }}", scope) == expected


def test_placeholders_style_assign_then_use(scope: StaticScope) -> None:
    # Duo's request signing (Tines' `placeholders` example): assigns build a canonical
    # string, then an HMAC over it becomes part of a basic-auth header.
    template = (
        "{% assign date = 1700000000 | date: '%a, %d %b %Y %H:%M:%S -0000' %}"
        "{% capture canon %}{{ date }}\nGET{% endcapture %}"
        "{{ canon | hmac_sha1: .CREDENTIAL.key }}"
    )
    canon = "Tue, 14 Nov 2023 22:13:20 -0000\nGET"
    assert render(template, scope) == hmac.new(b"k3y", canon.encode(), hashlib.sha1).hexdigest()


def test_jwt_sign_rs256_with_a_service_account_key(scope: StaticScope) -> None:
    # Gmail mailbox story: claim set as JSON text, PEM key from a credential whose line
    # breaks were pasted escaped, as they appear in a service-account JSON file.
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    scope = StaticScope(credentials={"gsuite_tk": pem.replace("\n", "\\n")})
    event = {"create_claimset": {"jwt_claim": '{"iss":"svc@x","aud":"https://oauth2.example/token","exp":2000000000}'}}
    template = (
        "{% capture secret %}{{.CREDENTIAL.gsuite_tk}}{% endcapture %}{{.create_claimset.jwt_claim | jwt_sign: secret }}"
    )
    token = render_value(template, event, scope)
    claims = jwt.decode(token, private.public_key(), algorithms=["RS256"], audience="https://oauth2.example/token")
    assert claims["iss"] == "svc@x"


def test_unknown_filter_passes_through(scope: StaticScope) -> None:
    assert render("{{ .roster.body | map: 'id' | s_object }}", scope) == '["u1","u2"]'


def test_base64_decode_keeps_bytes_for_eml_parse(scope: StaticScope) -> None:
    raw = b"Subject: Hi\r\nFrom: a@x.com\r\nTo: b@y.com\r\n\r\nbody\r\n"
    event = {"gmail": {"raw": base64.urlsafe_b64encode(raw).decode().rstrip("=")}}
    assert render_value("{{ .gmail.raw | base64url_decode | eml_parse | get: 'subject' }}", event, scope) == "Hi"


@pytest.mark.parametrize(
    ("liquid", "formula"),
    [("'payload' | hmac_sha256: 'k3y'", "HMAC_SHA256('payload', 'k3y')"),
     ("'payload' | hmac_sha256_base64: 'k3y'", "HMAC_SHA256_BASE64('payload', 'k3y')"),
     ("'payload' | sha512", "SHA512('payload')"),
     ("'payload' | md5", "MD5('payload')"),
     ("'aGk' | base64_decode", "BASE64_DECODE('aGk')"),
     ("'a?b' | base64url_encode", "BASE64URL_ENCODE('a?b')")],
)
def test_filters_and_formulas_hash_and_encode_alike(liquid: str, formula: str, scope: StaticScope) -> None:
    assert render("{{ " + liquid + " }}", scope) == render("=" + formula, scope)


def test_bad_base64_names_the_filter_or_function(scope: StaticScope) -> None:
    with pytest.raises(TemplateError, match="base64_decode: invalid base64"):
        render("{{ 'a' | base64_decode }}", scope)
    with pytest.raises(TemplateError, match="BASE64_DECODE: invalid base64"):
        render("=BASE64_DECODE('a')", scope)


def test_the_registry_lists_what_the_corpus_needs() -> None:
    assert {"where", "get", "jsonpath", "hmac_sha1", "date", "csv_parse", "base64_encode", "url_encode",
            "uniq", "map", "jwt_sign", "as_object", "eml_parse", "neat_json", "regex_replace"} <= supported_filters()
    assert {"for", "if", "unless", "capture", "assign", "case", "credential", "global_resource", "prompt",
            "line_break", "story", "story_run_guid", "random"} <= supported_tags()
    assert {"IF", "AND", "OR", "NOT", "DEFAULT", "SIZE", "COUNT", "JOIN", "SPLIT", "CONCAT", "UPCASE",
            "DOWNCASE", "STRIP", "REPLACE", "REGEX_EXTRACT", "REGEX_REPLACE", "MATCH", "FILTER", "MAP",
            "LAMBDA", "FIRST", "LAST", "UNIQ", "FLATTEN", "KEYS", "VALUES", "JSON_PARSE", "JSON_STRINGIFY",
            "BASE64_ENCODE", "BASE64_DECODE", "URL_ENCODE", "DATE", "NOW", "PROMPT",
            "STORY_RUN_GUID"} <= supported_functions()

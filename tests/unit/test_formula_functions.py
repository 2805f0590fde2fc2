"""One specification per formula function, from the examples in Tines' function reference.

Each case is (input event, formula, expected output) as Tines documents it; where Tines'
page has no example, the case states the documented behaviour.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
import pytest

from storyline.templating import StaticScope, TemplateError, render_value

ANIMALS = {"my_action": {"animals": [{"color": "Brown", "type": "Dog"}, {"color": "Beige", "type": "Cat"}]}}
MESSAGE = {"my_action": {"message": "The quick brown fox jumps over the lazy dog. It barked."}}

CASES: list[tuple[dict[str, Any], str, Any]] = [
    # IF: two or three arguments; no else gives NULL.
    ({"my_action": {"value": 5}}, 'IF(my_action.value>5, "true")', None),
    ({"my_action": {"value": 5}}, 'IF(my_action.value>5, "true", "false")', "false"),
    ({"my_action": {"value": 5}}, 'IF(my_action.value>1, "true", "false")', "true"),
    # AND / OR / NOT
    ({}, "AND(TRUE, 1, 'x')", True),
    ({}, "AND(TRUE, NULL)", False),
    ({}, "OR(FALSE, NULL, 0)", True),
    ({}, "NOT(NULL)", True),
    # DEFAULT: null, FALSE and empty text/array/object fall back; several fallbacks.
    ({"my_action": {"message": []}}, 'DEFAULT(my_action.message, "fallback")', "fallback"),
    ({"my_action": {"message": [1]}}, 'DEFAULT(my_action.message, "fallback")', [1]),
    ({"my_action": {"message": ""}}, 'DEFAULT(my_action.message, "fallback")', "fallback"),
    ({"my_action": {"message": "hello world"}}, 'DEFAULT(my_action.message, "fallback")', "hello world"),
    ({"my_action": {}}, 'DEFAULT(my_action.does_not_exist, "fallback")', "fallback"),
    ({"my_action": {"message": False}}, 'DEFAULT(my_action.message, "fallback")', "fallback"),
    ({"my_action": {"message": [], "fallback": ""}}, 'DEFAULT(my_action.message, my_action.fallback, "fallback")',
     "fallback"),
    ({}, 'DEFAULT(NULL, "", [])', ""),
    ({}, 'DEFAULT(NULL, "", [], {use_last_fallback: TRUE})', []),
    # SIZE / COUNT
    ({}, "SIZE([1, 2, 3])", 3),
    ({}, 'SIZE("hello")', 5),
    ({}, "COUNT([1, 2])", 2),
    ({}, "SIZE(NULL)", 0),
    # JOIN / SPLIT / CONCAT
    ({}, 'JOIN(["a", "b", "c"], ", ")', "a, b, c"),
    ({}, 'SPLIT("a,b,c", ",")', ["a", "b", "c"]),
    ({}, "CONCAT([1, 2], [3])", [1, 2, 3]),
    ({}, 'CONCAT("a", "b", 1)', "ab1"),
    # text
    ({}, 'UPCASE("abc")', "ABC"),
    ({}, 'DOWNCASE("ABC")', "abc"),
    ({}, 'STRIP("  x  ")', "x"),
    ({}, 'REPLACE("a-b-c", "-", "+")', "a+b+c"),
    # regular expressions (Ruby syntax, Ruby modifiers)
    (MESSAGE, 'REGEX_EXTRACT(my_action.message, "[A-Z]")', ["T", "I"]),
    ({"example": "hello & HELLO"}, 'REGEX_EXTRACT(example, "hello", "i")', ["hello", "HELLO"]),
    ({"my_action": {"message": "see no evil, hear no evil, speak no evil"}},
     'REGEX_EXTRACT(my_action.message, "([a-z]+) no ([a-z]+)")',
     [["see", "evil"], ["hear", "evil"], ["speak", "evil"]]),
    ({"my_action": {"message": "This is an automatically generated message from Tines"}},
     'REGEX_EXTRACT(my_action.message, "(?<=This is)(.*)(?=generated)")[0][0] |> UPCASE(%)', " AN AUTOMATICALLY "),
    ({}, 'REGEX_EXTRACT("id=42", "(?<num>\\\\d+)")', [["42"]]),
    ({}, 'REGEX_REPLACE("a1b22", "\\\\d+", "#")', "a#b#"),
    ({}, 'REGEX_REPLACE("John Smith", "(\\\\w+) (\\\\w+)", "\\\\2, \\\\1")', "Smith, John"),
    ({}, 'MATCH("admin@agency.gov", "\\\\.gov$")', True),
    ({}, 'MATCH("ADMIN", "admin")', False),
    ({}, 'MATCH("ADMIN", "admin", "i")', True),
    # arrays and lambdas
    (ANIMALS, 'MAP(my_action.animals, "type")', ["Dog", "Cat"]),
    ({"my_action": [{"a": {"b": {"c": "d"}}}]}, 'MAP(my_action, "a.b.c")', ["d"]),
    ({"fetch_data": {"users": [{"User ID": "ID1"}, {"User ID": "ID2"}]}},
     "MAP(fetch_data.users, '[\"User ID\"]')", ["ID1", "ID2"]),
    (ANIMALS, 'FILTER(my_action.animals, LAMBDA(a, a.color = "Beige"))', [{"color": "Beige", "type": "Cat"}]),
    ({}, "MAP_LAMBDA([1, 2, 3], LAMBDA(n, n * 10))", [10, 20, 30]),
    ({}, "FIRST([7, 8, 9])", 7),
    ({}, "LAST([7, 8, 9])", 9),
    ({}, "FIRST([])", None),
    ({}, "UNIQ([1, 1, 2, 1, 3])", [1, 2, 3]),
    ({}, "FLATTEN([1, [2, [3, [4]]], 5])", [1, 2, 3, 4, 5]),
    ({}, 'KEYS({"a": 1, "b": 2})', ["a", "b"]),
    ({}, 'VALUES({"a": 1, "b": 2})', [1, 2]),
    # JSON and encodings
    ({}, 'JSON_PARSE("{\\"a\\": [1, true, null]}")', {"a": [1, True, None]}),
    ({}, 'JSON_STRINGIFY({"a": [1, TRUE, NULL]})', '{"a":[1,true,null]}'),
    ({}, 'BASE64_ENCODE("hello")', "aGVsbG8="),
    ({}, 'BASE64_DECODE("aGVsbG8=")', "hello"),
    ({}, 'URL_ENCODE("a b&c/d")', "a%20b%26c%2Fd"),
    # dates: strftime with Ruby's extras, in UTC or a named time zone
    ({}, 'DATE("2024-03-05T10:20:30Z", "%Y-%m-%d %H:%M")', "2024-03-05 10:20"),
    ({}, 'DATE(1700000000, "%s")', "1700000000"),
    ({}, 'DATE("2024-03-05T10:20:30Z", "%H:%M", "America/New_York")', "05:20"),
]


@pytest.fixture
def scope() -> StaticScope:
    return StaticScope(story_run="run-9", credentials={"k": "secret"}, prompt_base="https://sl.example/prompt")


@pytest.mark.parametrize(("event", "expression", "expected"), CASES, ids=[c[1][:60] for c in CASES])
def test_documented_example(event: dict[str, Any], expression: str, expected: Any, scope: StaticScope) -> None:
    assert render_value("=" + expression, event, scope) == expected


def test_now_is_the_current_utc_time_and_dates_read_it() -> None:
    scope = StaticScope()
    before = dt.datetime.now(dt.UTC).timestamp()
    stamp = int(render_value('=DATE(NOW(), "%s")', {}, scope))
    assert before - 1 <= stamp <= dt.datetime.now(dt.UTC).timestamp() + 1


def test_now_uses_the_scope_clock_when_it_has_one() -> None:
    class Clocked(StaticScope):
        def now(self) -> float:
            return 1_700_000_000.0

    assert render_value('=DATE(NOW(), "%Y-%m-%d")', {}, Clocked()) == "2023-11-14"


def test_jwt_sign_matches_tines_documented_token(scope: StaticScope) -> None:
    token = render_value('=JWT_SIGN({"user_id": 123}, "secret", "HS256")', {}, scope)
    assert token == "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxMjN9.FoW4dUPr9HWzOI8S7Ohpe3hGULZEJhNJeouOX8f1sz8"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_jwt_sign_headers_and_credential_key(scope: StaticScope) -> None:
    token = render_value('=JWT_SIGN({"sub": "u1"}, CREDENTIAL.k, "HS256", {"kid": "key-1"})', {}, scope)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "key-1"}
    assert jwt.decode(token, "secret", algorithms=["HS256"]) == {"sub": "u1"}


def test_story_run_guid_and_prompt(scope: StaticScope) -> None:
    assert render_value("=STORY_RUN_GUID()", {}, scope) == "run-9"
    assert render_value('<<PROMPT("ok")>>', {}, scope) == "https://sl.example/prompt?run=run-9&status=ok"


def test_local_loop_and_meta_roots(scope: StaticScope) -> None:
    event = {"LOCAL": {"greeting": "hi"}, "LOOP": {"value": "x", "index": 2}}
    scope = StaticScope(meta_data={"story": {"name": "S"}})
    assert render_value("<<LOCAL.greeting>> <<LOOP.value>><<LOOP.index>> <<META.story.name>>", event, scope) == (
        "hi x2 S"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("KEYS([1])", "KEYS: expected an object"),
        ('DATE("not a date", "%Y")', "DATE: cannot read a date"),
        ('REGEX_EXTRACT("x", "(")', "REGEX_EXTRACT: invalid regular expression"),
        ('JWT_SIGN({"a": 1}, "not a pem")', "JWT_SIGN: jwt_sign: cannot sign with RS256"),
    ],
)
def test_bad_calls_name_the_function_and_position(expression: str, message: str, scope: StaticScope) -> None:
    with pytest.raises(TemplateError, match="formula error at character 2") as info:
        render_value("=" + expression, {}, scope)
    assert message in str(info.value)


def test_jwt_sign_errors_never_show_the_key(scope: StaticScope) -> None:
    with pytest.raises(TemplateError) as info:
        render_value('=JWT_SIGN({"a": 1}, CREDENTIAL.k)', {}, scope)
    assert "secret" not in str(info.value)

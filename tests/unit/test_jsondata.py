"""JSON as storyline reads and writes it: exact integers of any width, bounded nesting, orjson's strictness."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from storyline import jsondata
from storyline.actions.webhook import BadRequest, parse_body

WIDE = 123456789012345678901234567890


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("number", [WIDE, -WIDE, 2**64, 2**63, -(2**63) - 1, 10**300])
def test_integers_of_any_width_are_read_and_written_exactly(number: int) -> None:
    text = f'{{"n": {number}}}'
    assert jsondata.loads(text) == {"n": number}
    assert jsondata.loads(text.encode()) == {"n": number}
    assert jsondata.dumps({"n": number}) == f'{{"n":{number}}}'
    assert jsondata.loads(jsondata.dumpb({"n": number})) == {"n": number}


def test_long_digit_runs_in_strings_and_floats_read_as_orjson_reads_them() -> None:
    text = '{"id": "12345678901234567890123", "f": 1.2345678901234567890123, "e": 1e300, "small": 7}'
    assert jsondata.loads(text) == orjson.loads(text)


@pytest.mark.parametrize("text", ['{"n": NaN}', '[Infinity]', '["\\ud800"] 1234567890123456789012', "[1,]"])
def test_what_orjson_refuses_is_refused_even_with_a_wide_integer_about(text: str) -> None:
    with pytest.raises(jsondata.JsonError, match="not valid JSON"):
        jsondata.loads(text)
    with pytest.raises(jsondata.JsonError, match="not valid JSON"):
        jsondata.loads(text.replace("]", ", 123456789012345678901234567890]", 1))


@pytest.mark.parametrize("number", ["9" * 400, "9" * 5000, "1e400"])
def test_a_number_beyond_what_a_double_holds_is_refused_plainly(number: str) -> None:
    with pytest.raises(jsondata.JsonError, match="not valid JSON: number is infinity when parsed as double"):
        jsondata.loads(f"[{number}]")


@pytest.mark.parametrize("depth", [jsondata.MAX_DEPTH + 1, 254, 1024, 1025, 100_000])
def test_nesting_deeper_than_the_limit_is_refused(depth: int) -> None:
    with pytest.raises(jsondata.JsonError, match="nested deeper than 64 levels"):
        jsondata.loads("[" * depth + "]" * depth)
    with pytest.raises(jsondata.JsonError, match="nested deeper than 64 levels"):
        jsondata.loads("[" * depth + str(WIDE) + "]" * depth)


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = jsondata.MAX_DEPTH
    assert jsondata.loads("[" * depth + "0" + "]" * depth) == nested(depth)
    assert jsondata.deeper_than(nested(depth), depth) is False
    assert jsondata.deeper_than({"a": [1, {"b": nested(depth - 2)}]}, depth) is True
    assert jsondata.deeper_than("text", 0) is False


def test_what_orjson_cannot_write_is_written_like_orjson_would() -> None:
    value = {"wide": WIDE, "deep": nested(300), "text": "é", "list": [1, {"a": None}], 5: "key"}
    written = jsondata.dumps(value, indent=True)
    assert written == json.dumps(value, ensure_ascii=False, indent=2)
    assert jsondata.dumps({"a": [1, {}]}, indent=True) == orjson.dumps({"a": [1, {}]}, option=orjson.OPT_INDENT_2).decode()


@pytest.mark.parametrize("value", [{"s": "\ud800", "n": WIDE}, {"n": WIDE, "nan": float("nan")}, {"n": WIDE, "x": object()}])
def test_what_cannot_be_json_is_refused_when_written(value: Any) -> None:
    with pytest.raises(jsondata.JsonError, match="cannot be written as JSON"):
        jsondata.dumps(value)


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.api+json", "text/plain"])
def test_a_webhook_body_keeps_wide_integers_whatever_the_json_content_type(content_type: str) -> None:
    assert parse_body(content_type, f'{{"n": {WIDE}}}'.encode()) == {"n": WIDE}


def test_a_webhook_json_body_nested_too_deep_is_a_bad_request() -> None:
    depth = jsondata.MAX_DEPTH + 1
    with pytest.raises(BadRequest, match="request body is JSON nested deeper than 64 levels"):
        parse_body("application/json", b"[" * depth + b"]" * depth)
    # Sent as text, it stays text: flat, and not JSON to anyone downstream.
    assert parse_body("text/plain", b"[" * depth + b"]" * depth) == {"body": "[" * depth + "]" * depth}


def test_a_webhook_form_body_is_flat_text() -> None:
    assert parse_body("application/x-www-form-urlencoded", b"n=" + str(WIDE).encode() + b"&deep=[[[[") == {
        "n": str(WIDE), "deep": "[[[["}

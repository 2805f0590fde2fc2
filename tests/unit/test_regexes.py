"""Story patterns: Ruby's spellings understood the same everywhere, and a time limit on every match."""

from __future__ import annotations

import time

import pytest

from storyline.templating import TemplateError, regexes
from tests.support import BUSY

RUNAWAY = r"^(a|a)*$"  # exponential backtracking: hours on 41 characters without a limit
HOSTILE = "a" * 40 + "!"


@pytest.fixture
def short_limit(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv(regexes.TIMEOUT_ENV, "0.2")
    return 0.2


# --- Ruby syntax: the union of what the trigger and the filters used to translate -----------


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"id=(?<number>\d+)\z", "id=42", "id=42"),  # named group, end of text
        (r"end\z", "the end\n", None),  # \z: the very end only
        (r"end\Z", "the end\n", "end"),  # \Z: also before a final line break
        (r"\h+", "zz c0ffee", "c0ffee"),  # hex digit, not the regex package's horizontal space
        (r"[\h-]+", "xyz: 12ab-ef", "12ab-ef"),
        (r"\H+", "c0ffee!zz", "!zz"),
        (r"(?<q>['\"])x\k<q>", "say 'x'", "'x'"),  # named backreference
        (r"(?m)a.b", "a\nb", "a\nb"),  # Ruby's m is dot-all
        (r"^second", "first\nsecond", "second"),  # ^ and $ match at every line, as in Ruby
        (r"\\z", "a\\z", "\\z"),  # an escaped backslash is not the start of \z
        (r"[]z]+", "a]z", "]z"),  # a ] right after [ is literal
        (r"a++b", "aab", "aab"),  # possessive quantifiers need no rewriting
    ],
)
def test_ruby_spellings_mean_what_they_mean_in_ruby(pattern: str, text: str, found: str | None) -> None:
    match = regexes.compile(pattern).search(text)
    assert (match.group(0) if match else None) == found


def test_a_leading_minus_i_makes_a_case_insensitive_use_case_sensitive() -> None:
    assert regexes.compile("alice", "i").search("ALICE")
    assert regexes.compile("(?-i)alice", "i").search("ALICE") is None
    assert regexes.compile("(?-i)alice", "i").search("alice")


def test_ruby_modifiers_i_m_and_x() -> None:
    assert regexes.compile("a.b", "m").search("a\nb")
    assert regexes.compile("a b # spaced", "x").search("ab")
    assert regexes.compile("A", "i").search("a")


def test_scan_gives_ruby_shapes() -> None:
    assert regexes.compile(r"\d").scan("a1b2") == ["1", "2"]
    assert regexes.compile(r"(\w)=(\d)").scan("a=1 b=2") == [["a", "1"], ["b", "2"]]


def test_replace_expands_groups_and_keeps_a_reference_to_a_missing_group_as_written() -> None:
    assert regexes.compile(r"(\w+) (\w+)").replace(r"\2, \1", "John Smith") == "Smith, John"
    assert regexes.compile(r"x").replace(r"\9", "axb") == r"a\9b"


def test_an_invalid_pattern_names_itself_and_the_reason() -> None:
    with pytest.raises(regexes.InvalidRegex) as info:
        regexes.compile("([unclosed")
    assert info.value.pattern == "([unclosed" and "unterminated character set" in info.value.reason
    assert isinstance(info.value, TemplateError)


# --- the time limit -------------------------------------------------------------------------


@pytest.mark.parametrize("use", ["search", "scan", "replace"])
def test_a_runaway_match_stops_at_the_limit_and_says_what_to_do(short_limit: float, use: str) -> None:
    pattern = regexes.compile(RUNAWAY)
    started = time.monotonic()
    with pytest.raises(regexes.RegexTimeout) as info:
        if use == "replace":
            pattern.replace("x", HOSTILE)
        else:
            getattr(pattern, use)(HOSTILE)
    assert time.monotonic() - started < short_limit + BUSY  # without the limit: minutes
    message = str(info.value)
    assert RUNAWAY in message and "ran past the 0.2s limit on 41 characters" in message
    assert "STORYLINE_REGEX_TIMEOUT" in message


def test_the_pattern_reported_in_the_issue_answers_at_once() -> None:
    # ``^(\w+\s?)*$`` took Python's re ~15 s on 28 characters; the regex package answers in microseconds,
    # well inside the default limit (a timeout would raise).
    assert regexes.compile(r"^(\w+\s?)*$", "i").search("a" * 28 + "!") is None


def test_the_limit_setting_must_be_a_positive_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(regexes.TIMEOUT_ENV, "soon")
    with pytest.raises(regexes.RegexError, match="STORYLINE_REGEX_TIMEOUT='soon' must be a positive number"):
        regexes.compile("a").search("a")
    monkeypatch.setenv(regexes.TIMEOUT_ENV, "2.5")
    assert regexes.time_limit() == 2.5
    monkeypatch.delenv(regexes.TIMEOUT_ENV)
    assert regexes.time_limit() == regexes.DEFAULT_TIMEOUT == 1.0


def test_a_long_pattern_rendered_from_an_event_is_not_kept_in_the_cache() -> None:
    before = regexes._compile.cache_info().currsize
    long = "x" * (regexes.CACHED_LENGTH + 1)
    assert regexes.compile(long).search("a" + long)
    assert regexes._compile.cache_info().currsize == before

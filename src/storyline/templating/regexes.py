"""Regular expressions that stories supply: Ruby's syntax, run with a time limit, off the GIL.

Every pattern a story brings (trigger and webhook ``rules``, Event Transform ``extract``
matchers, IMAP conditions, the ``REGEX_*``/``MATCH`` formula functions and the
``regex_*`` filters) goes through this one module, because each is a way for a webhook
sender's text to meet an author's pattern, and a backtracking pattern such as
``^(a|a)*$`` takes exponential time on 30 characters.

* :func:`translate` rewrites the Ruby spellings Tines stories use into the ``regex``
  package's syntax, so every caller reads a pattern the same way.
* :func:`compile` caches the result; an invalid pattern raises :class:`InvalidRegex`.
* :class:`Pattern` matches with ``timeout`` (``STORYLINE_REGEX_TIMEOUT`` seconds, 1 by
  default) and ``concurrent=True``, which releases the GIL while matching, so a runaway
  pattern fails its own action with :class:`RegexTimeout` instead of freezing every other
  thread of the server.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re as _re
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, TypeVar

import regex

from .base import TemplateError

T = TypeVar("T")

TIMEOUT_ENV = "STORYLINE_REGEX_TIMEOUT"
DEFAULT_TIMEOUT = 1.0
CACHED_LENGTH = 1000
"""Longer patterns are compiled afresh each time: a pattern may be rendered from event data,
and a cache of a thousand 2 MB keys would hold gigabytes."""


class RegexError(TemplateError):
    """A story's pattern that does not compile, or (:class:`RegexTimeout`) took too long."""


class InvalidRegex(RegexError):
    """A pattern that does not compile; ``reason`` is the regex engine's word on it."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid regular expression {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class RegexTimeout(RegexError):
    """A match ran past the time limit; the action fails for good (running it again cannot help)."""


@lru_cache(maxsize=8)
def _parse_limit(raw: str) -> float:
    try:
        limit = float(raw)
    except ValueError:
        limit = 0.0
    if not limit > 0:
        raise RegexError(f"{TIMEOUT_ENV}={raw!r} must be a positive number of seconds (e.g. 1)")
    return limit


def time_limit() -> float:
    """Seconds one match may run (``STORYLINE_REGEX_TIMEOUT``), read at each use so it applies at once."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    return _parse_limit(raw) if raw else DEFAULT_TIMEOUT


class Budget:
    """A tighter limit for matches run where others wait on them (inside the database writer).

    A match that runs past it raises :class:`RegexTimeout` as usual, and ``exceeded`` tells
    the caller the budget, not the stories' limit, was what ran out: the work can be done
    again elsewhere with the full limit.
    """

    __slots__ = ("exceeded", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.exceeded = False


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("storyline_regex_budget", default=None)


@contextlib.contextmanager
def budget(current: Budget) -> Iterator[Budget]:
    """Within the block, every match is bounded by the budget's seconds when tighter than the limit."""
    token = _budget.set(current)
    try:
        yield current
    finally:
        _budget.reset(token)


def _limit() -> tuple[float, Budget | None]:
    limit = time_limit()
    current = _budget.get()
    if current is not None and current.seconds < limit:
        return current.seconds, current
    return limit, None


# --------------------------------------------------------------------------- Ruby syntax

_HEX = "0-9a-fA-F"
# Escapes whose Ruby meaning Python's regex spells differently (or reads as something else:
# for the regex package ``\h`` is horizontal space, for Ruby a hex digit).
_ESCAPES_OUTSIDE_CLASS = {
    "z": r"\Z",  # end of text
    "Z": r"(?=\n?\Z)",  # end of text, or before a final line break
    "h": f"[{_HEX}]",
    "H": f"[^{_HEX}]",
}
_ESCAPES_IN_CLASS = {"h": _HEX}
_NAMED_BACKREF = _re.compile(r"\\k<([A-Za-z_]\w*)>")
_FLAG_GROUP = _re.compile(r"\(\?([imx]*)(?:-([imx]*))?(?=[:)])")


def _ruby_flags(m: _re.Match[str]) -> str:
    """Ruby's inline ``m`` is "dot matches newline", which Python calls ``s``."""
    on, off = m.group(1), m.group(2)
    text = "(?" + on.replace("m", "s")
    if off is not None:
        text += "-" + off.replace("m", "s")
    return text


def translate(pattern: str) -> tuple[str, bool]:
    r"""A Ruby pattern in the regex package's syntax, and whether it asked to be case-sensitive.

    Rewritten: ``\z`` and ``\Z`` (Ruby's end anchors), ``\h``/``\H`` (hex digit), ``\k<name>``
    (named backreference), the ``m`` of inline flags (Ruby's dot-all), and a leading ``(?-i)``
    (Huginn's documented way to make a case-insensitive rule case-sensitive), which is
    returned as a flag because a rule's case-insensitivity is not part of its text.
    ``(?<name>...)``, possessive quantifiers and atomic groups need no rewriting.
    """
    case_sensitive = pattern.startswith("(?-i)")
    if case_sensitive:
        pattern = pattern[5:]
    out: list[str] = []
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if in_class:
                out.append(_ESCAPES_IN_CLASS.get(nxt, pattern[i : i + 2]))
            elif nxt == "k" and (ref := _NAMED_BACKREF.match(pattern, i)):
                out.append(f"(?P={ref.group(1)})")
                i = ref.end()
                continue
            else:
                out.append(_ESCAPES_OUTSIDE_CLASS.get(nxt, pattern[i : i + 2]))
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            i += 1
            # a ']' right after '[' or '[^' is a literal, not the end of the class
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("]")
                i += 1
            continue
        if char == "(" and (flags := _FLAG_GROUP.match(pattern, i)) and (flags.group(1) or flags.group(2)):
            out.append(_ruby_flags(flags))
            i = flags.end()
            continue
        out.append(char)
        i += 1
    return "".join(out), case_sensitive


# --------------------------------------------------------------------------- matching


class Pattern:
    """A compiled story pattern whose every match is bounded by :func:`time_limit`."""

    __slots__ = ("compiled", "source")

    def __init__(self, source: str, compiled: regex.Pattern[str]) -> None:
        self.source = source
        self.compiled = compiled

    @property
    def groups(self) -> int:
        return self.compiled.groups

    def _timed_out(self, text: str, limit: float, binding: Budget | None) -> RegexTimeout:
        if binding is not None:
            binding.exceeded = True
        return RegexTimeout(
            f"regular expression {self.source!r} ran past the {limit:g}s limit on {len(text)} characters "
            f"(runaway backtracking); rewrite it without nested repetition such as (a+)+ or (a|a)*, "
            f"or raise {TIMEOUT_ENV}"
        )

    def _bounded(self, match: Callable[[float], T], text: str) -> T:
        """``match(timeout)`` within the limit (or the budget, when one binds).

        The limit is wall-clock time. Under a budget of milliseconds a match of a few
        microseconds can run out of it because its thread was not running (a busy machine
        preempted it): a match that timed out having used less than half its budget in CPU
        is run once more, so that a stall does not send an action out of the writer for
        good (bench/README.md). A pattern that really runs away uses the CPU, and runs out
        of the budget at the first attempt or the second.
        """
        limit, binding = _limit()
        for attempt in (1, 2):
            started = time.thread_time() if binding is not None else 0.0
            try:
                return match(limit)
            except TimeoutError:
                stalled = binding is not None and time.thread_time() - started < limit / 2
                if attempt == 2 or not stalled:
                    raise self._timed_out(text, limit, binding) from None
        raise AssertionError("unreachable")

    def search(self, text: str) -> regex.Match[str] | None:
        return self._bounded(lambda limit: self.compiled.search(text, timeout=limit, concurrent=True), text)

    def scan(self, text: str) -> list[Any]:
        """Every match, as Ruby's ``String#scan`` gives them (what stories index into): the
        matched texts, or with capture groups a list of each match's groups."""
        found = self._bounded(
            lambda limit: list(self.compiled.finditer(text, timeout=limit, concurrent=True)), text
        )
        if self.compiled.groups:
            return [list(m.groups()) for m in found]
        return [m.group(0) for m in found]

    def replace(self, template: str, text: str) -> str:
        r"""Replace every match with ``template``, whose ``\1`` and ``\g<name>`` name groups.

        A template naming a group the pattern lacks is inserted as written rather than
        failing the action.
        """

        def expand(match: regex.Match[str]) -> str:
            try:
                return match.expand(template)
            except (regex.error, IndexError, ValueError):
                return template

        return self._bounded(lambda limit: self.compiled.sub(expand, text, timeout=limit, concurrent=True), text)


_FLAGS = {"i": regex.IGNORECASE, "m": regex.DOTALL, "x": regex.VERBOSE}


def _normalise(modifiers: Iterable[str]) -> str:
    return "".join(sorted(set(modifiers) & set(_FLAGS)))


@lru_cache(maxsize=1024)
def _compile(pattern: str, modifiers: str) -> Pattern:
    translated, case_sensitive = translate(pattern)
    # Ruby's ^ and $ always match at line breaks.
    flags = regex.MULTILINE | regex.VERSION0
    for letter in modifiers:
        if not (letter == "i" and case_sensitive):
            flags |= _FLAGS[letter]
    try:
        return Pattern(pattern, regex.compile(translated, flags))
    except (regex.error, ValueError, OverflowError, RecursionError) as err:
        raise InvalidRegex(pattern, str(err)) from None


def compile(pattern: str, modifiers: str = "") -> Pattern:
    """Compile (once) a pattern written for Tines, with Ruby modifiers ``i``, ``m`` (dot-all), ``x``.

    Raises :class:`InvalidRegex` naming the pattern when it does not compile.
    """
    if len(pattern) > CACHED_LENGTH:  # a pattern rendered from a large event is not kept
        return _compile.__wrapped__(pattern, _normalise(modifiers))
    return _compile(pattern, _normalise(modifiers))

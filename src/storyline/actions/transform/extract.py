"""Event Transform's ``extract`` mode.

Emits ``{to: matches}`` per matcher, with Ruby ``String#scan`` shapes because that is what
stories index into: a pattern without capture groups gives a list of strings
(``.extract_urls.urls`` is exploded into URLs); with groups, a list of group lists
(``.extract_domain.domain.first.first``). Case-sensitive unless the pattern says ``(?i)``;
``^``/``$`` match at line breaks, as in Ruby.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storyline.actions.base import ActionError, Result, RunContext, render_option
from storyline.actions.rules import compile_regex, regex_failure, regex_problem
from storyline.templating import regexes
from storyline.templating.values import is_templated, to_text

STATEFUL = False
"""Runs need no action state."""


def validate(options: Mapping[str, Any]) -> list[str]:
    matchers = options.get("matchers")
    if not isinstance(matchers, list) or not matchers:
        return ["option 'matchers' must be a non-empty list of {path, regexp, to}"]
    problems: list[str] = []
    for index, matcher in enumerate(matchers):
        where = f"matchers[{index}]"
        if not isinstance(matcher, Mapping):
            problems.append(f"option '{where}' must be an object with path, regexp and to")
            continue
        if "path" not in matcher:
            problems.append(f"option '{where}.path' is required (a template yielding the text to search)")
        if matcher.get("regexp") in (None, ""):
            problems.append(f"option '{where}.regexp' is required")
        else:
            problem = regex_problem(matcher["regexp"], f"{where}.regexp")
            if problem:
                problems.append(problem)
        to = matcher.get("to")
        if not isinstance(to, str) or not to.strip():
            problems.append(f"option '{where}.to' must name the key that receives the matches")
    return problems


def run(ctx: RunContext) -> Result:
    matchers = ctx.action.options.get("matchers")
    if not isinstance(matchers, list):
        raise ActionError("option 'matchers' must be a list of {path, regexp, to}")
    output: dict[str, list[Any]] = {}
    for index, matcher in enumerate(matchers):
        where = f"matchers[{index}]"
        text = to_text(render_option(ctx, matcher.get("path"), f"{where}.path"))
        pattern = matcher.get("regexp")
        if is_templated(pattern):
            pattern = render_option(ctx, pattern, f"{where}.regexp")
        to = to_text(render_option(ctx, matcher.get("to"), f"{where}.to"))
        try:
            found = compile_regex(to_text(pattern), False).scan(text)
        except regexes.RegexError as exc:
            raise regex_failure(exc, f"option '{where}.regexp'") from None
        output.setdefault(to, []).extend(found)
    return Result(events=[output])

"""Rules: ``rules`` / ``must_match``, the conditions a Trigger, a Webhook and every other action may carry.

Tines inherited them from Huginn's ``TriggerAgent`` and kept its rule vocabulary
(``regex``, ``!regex``, ``field==value`` ... ``field>value``), adding ``in`` / ``not in``
and ``must_match``. Semantics follow Huginn's implementation, which is what old stories
were written against, with these choices:

* ``path`` is a *template* that yields the left-hand value (``"{{.lookup.body.count}}"``,
  ``"<<receive.type>>"``); it is rendered against the incoming event, and so is ``value``.
* ``value`` may be a list: the rule matches when any element matches (Huginn and Tines
  docs). For negated types that means "at least one element does not match".
* ``regex`` / ``!regex``: case-insensitive search on the left value as text. Tines runs on
  Ruby, whose ``^``/``$`` match at every line, so patterns are multi-line; Ruby-only
  spellings are translated, and a match that runs past the time limit fails the action
  naming the rule (:mod:`storyline.templating.regexes`).
* ``field==value`` / ``field!=value``: compare as text the way Ruby's ``to_s`` prints
  values (``true``, ``""`` for null, JSON for lists and objects); a JSON number on either
  side also equals a numerically equal other side (``201`` == ``"201.0"``); this is
  :func:`storyline.templating.values.loose_equal`, which Liquid's ``where`` shares.
* ``field<value`` ... ``field>=value``: both sides as numbers. Blank (null or empty text)
  counts as 0, as Ruby's ``to_f`` does; real stories rely on it (a loop counter that has
  not run yet is ``""`` and must compare ``< 10``). Any other non-numeric text makes the
  rule not match, where Ruby would have silently read it as 0.
* ``in`` / ``not in``: *the path contains the value* (Tines docs: "the value specified is
  contained in a field at a defined path"; the UI now calls them "contains" / "does not
  contain"). A list path (or the JSON text of one) means membership, other text means
  substring, an object means key.
  Real exports use both directions this allows: ``path: RESOURCE.known_good_domains``
  (a list) with ``value: <domain>``, and ``path: <email>`` with ``value: RESOURCE.vip_list``
  (a list value, so any VIP that is the email, or inside it, matches).

The regex helpers here also serve IMAP's conditions and Event Transform's ``extract``.
The newer UI rule kinds (formula is true/false, is null) have no JSON spelling in any
public export, so :func:`validate_rules` reports them as unknown rather than guessing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from storyline import jsondata
from storyline.actions.base import ActionError, RunContext, render_option
from storyline.templating import regexes
from storyline.templating.values import is_templated, loose_equal, to_number, to_text

RULE_TYPES = (
    "regex",
    "!regex",
    "field==value",
    "field!=value",
    "field<value",
    "field<=value",
    "field>value",
    "field>=value",
    "in",
    "not in",
)
REGEX_TYPES = ("regex", "!regex")
NUMERIC_TYPES = ("field<value", "field<=value", "field>value", "field>=value")


# ---------------------------------------------------------------------------
# patterns (rules, IMAP conditions, Event Transform's extract)
# ---------------------------------------------------------------------------


def compile_regex(pattern: str, ignore_case: bool) -> regexes.Pattern:
    """A pattern written for Tines (Ruby), matched within the stories' regex time limit.

    See :mod:`storyline.templating.regexes`. Raises ``regexes.InvalidRegex``; callers turn
    that into a message naming the option.
    """
    return regexes.compile(pattern, "i" if ignore_case else "")


def regex_problem(pattern: Any, where: str) -> str | None:
    """A sentence naming ``where`` if a literal pattern is not a valid regex; None if fine or templated."""
    if is_templated(pattern):
        return None
    if not isinstance(pattern, str):
        return f"option '{where}' must be a regular expression (text), got {type(pattern).__name__}"
    try:
        compile_regex(pattern, True)
    except regexes.InvalidRegex as exc:
        return f"option '{where}' is not a valid regular expression: {exc.reason}"
    return None


class PatternTimedOut(ActionError):
    """A story's pattern ran past the regex time limit on this input: the input is to blame as much as the
    pattern, so a webhook refuses the request (4xx) rather than reporting itself broken."""


def regex_failure(exc: regexes.RegexError, where: str) -> ActionError:
    """The action fails for good (a pattern that failed once fails again): name where it is."""
    if isinstance(exc, regexes.InvalidRegex):
        return ActionError(f"{where}: pattern {exc.pattern!r} is not a valid regular expression: {exc.reason}")
    if isinstance(exc, regexes.RegexTimeout):
        return PatternTimedOut(f"{where}: {exc}")
    return ActionError(f"{where}: {exc}")


# ---------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------


def validate_rules(options: Mapping[str, Any], *, required: bool = True) -> list[str]:
    """Problems with ``rules`` and ``must_match``, each a sentence naming the option."""
    problems: list[str] = []
    rules = options.get("rules")
    if rules is None:
        if required:
            problems.append("option 'rules' is required: a list of {type, path, value} rules")
        return problems
    if not isinstance(rules, list) or (required and not rules):
        problems.append("option 'rules' must be a non-empty list of {type, path, value} rules")
        return problems
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(rule, Mapping):
            problems.append(f"option '{where}' must be an object with type, path and value")
            continue
        kind = rule.get("type")
        if kind not in RULE_TYPES:
            problems.append(f"option '{where}.type' must be one of {', '.join(RULE_TYPES)} (got {kind!r})")
        if "path" not in rule:
            problems.append(f"option '{where}.path' is required (a template yielding the value to test)")
        if "value" not in rule:
            problems.append(f"option '{where}.value' is required")
            continue
        values = rule["value"] if isinstance(rule["value"], list) else [rule["value"]]
        for n, value in enumerate(values):
            at = f"{where}.value" if not isinstance(rule["value"], list) else f"{where}.value[{n}]"
            if kind in REGEX_TYPES:
                problem = regex_problem(value, at)
                if problem:
                    problems.append(problem)
            elif kind in NUMERIC_TYPES and not is_templated(value) and to_number(value) is None:
                problems.append(f"option '{at}' must be a number for a {kind} rule (got {value!r})")
    must_match = options.get("must_match")
    if must_match not in (None, "") and not is_templated(must_match):
        number = to_number(must_match)
        if number is None or not number.is_integer() or number < 1:
            problems.append(f"option 'must_match' must be a positive whole number (got {must_match!r})")
        elif number > len(rules):
            problems.append(
                f"option 'must_match' is {int(number)} but there are only {len(rules)} rules, so it can never match"
            )
    return problems


def _contains(container: Any, value: Any) -> bool:
    """``in``: the rendered path contains the value (list member, substring, or object key).

    A list rendered without ``| as_object`` arrives as its JSON text; it is read back as the
    list, so membership does not degrade into substring matches inside the JSON. The text may
    be a sender's (``"[[[[..."``): it is read as any JSON from outside, depth bounded, and
    what does not read back stays text.
    """
    if container is None:
        return False
    if isinstance(container, str) and container.lstrip().startswith("["):
        with contextlib.suppress(jsondata.JsonError):
            container = jsondata.loads(container)
    if isinstance(container, list):
        return any(loose_equal(item, value) for item in container)
    if isinstance(container, Mapping):
        return to_text(value) in container
    return to_text(value) in to_text(container)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "field<value": lambda a, b: a < b,
    "field<=value": lambda a, b: a <= b,
    "field>value": lambda a, b: a > b,
    "field>=value": lambda a, b: a >= b,
}


def _regex_search(pattern: Any, text: str, index: int) -> bool:
    try:
        return compile_regex(to_text(pattern), True).search(text) is not None
    except regexes.RegexError as exc:
        raise regex_failure(exc, f"rule {index}") from None


def rule_matches(kind: str, left: Any, value: Any, index: int) -> bool:
    """Whether one rendered rule matches; ``value`` may be a list (any element matching suffices)."""
    values: Sequence[Any] = value if isinstance(value, list) else [value]
    for candidate in values:
        if kind == "regex":
            hit = _regex_search(candidate, to_text(left), index)
        elif kind == "!regex":
            hit = not _regex_search(candidate, to_text(left), index)
        elif kind == "field==value":
            hit = loose_equal(left, candidate)
        elif kind == "field!=value":
            hit = not loose_equal(left, candidate)
        elif kind in _COMPARE:
            a, b = to_number(left), to_number(candidate)
            hit = a is not None and b is not None and _COMPARE[kind](a, b)
        elif kind == "in":
            hit = _contains(left, candidate)
        elif kind == "not in":
            hit = not _contains(left, candidate)
        else:
            raise ActionError(
                f"rule {index}: unknown rule type {kind!r}; expected one of {', '.join(RULE_TYPES)}"
            )
        if hit:
            return True
    return False


def _render_rule_value(ctx: RunContext, kind: str, value: Any, where: str) -> Any:
    """Render a rule's value; a literal regex is used exactly as written (no template pass)."""
    if kind not in REGEX_TYPES:
        return render_option(ctx, value, where)
    if isinstance(value, list):
        return [
            render_option(ctx, item, f"{where}[{n}]") if is_templated(item) else item
            for n, item in enumerate(value)
        ]
    return render_option(ctx, value, where) if is_templated(value) else value


def evaluate_rules(ctx: RunContext, *, any_rule: bool = False) -> tuple[bool, list[str]]:
    """Render and test ``rules`` / ``must_match`` against the incoming event.

    Returns whether enough rules matched, and log lines saying which did. Each rule is
    rendered on its own so a template error names the rule. Without ``must_match`` every
    rule must match, or one when ``any_rule`` (a webhook's rules admit a request that
    matches any of them).
    """
    raw_rules = ctx.action.options.get("rules") or []
    if not isinstance(raw_rules, list):
        raise ActionError("option 'rules' must be a list of {type, path, value} rules")
    results: list[bool] = []
    for index, rule in enumerate(raw_rules):
        if not isinstance(rule, Mapping):
            raise ActionError(f"option 'rules[{index}]' must be an object with type, path and value")
        kind = rule.get("type")
        if kind not in RULE_TYPES:
            raise ActionError(
                f"option 'rules[{index}].type' must be one of {', '.join(RULE_TYPES)} (got {kind!r})"
            )
        left = render_option(ctx, rule.get("path"), f"rules[{index}].path")
        value = _render_rule_value(ctx, str(kind), rule.get("value"), f"rules[{index}].value")
        results.append(rule_matches(str(kind), left, value, index))
    must_match_option = ctx.option("must_match")
    if must_match_option in (None, ""):
        needed = min(1, len(results)) if any_rule else len(results)
    else:
        number = to_number(must_match_option)
        if number is None or not number.is_integer() or number < 1:
            raise ActionError(
                f"option 'must_match' must be a positive whole number (got {must_match_option!r})"
            )
        needed = int(number)
    matched = sum(results)
    summary = ", ".join(f"{i}:{'yes' if hit else 'no'}" for i, hit in enumerate(results))
    logs = [f"{matched} of {len(results)} rules matched ({summary}); {needed} needed"]
    return matched >= needed, logs

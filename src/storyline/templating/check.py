"""What storyline's templating supports, and what a template uses that it would not run as Tines does.

This is the one registry ``storyline story import`` and ``storyline tines check`` ask:

* :func:`supported_filters`, :func:`supported_tags`, :func:`supported_functions` list
  the Liquid filters and tags and the formula functions storyline implements;
* :func:`template_problems` finds syntax errors in an action's options at import time;
* :func:`template_findings` lists, for one action's options, every template construct
  that would not run as in Tines, each with the option path and a reason.

Nothing here renders a template: the answers come from parsing (python-liquid's static
analysis, and the formula parser), so checking a story needs no event, credential or clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from storyline.templating import formula
from storyline.templating.base import TemplateError
from storyline.templating.render import ENV, compile_liquid
from storyline.templating.values import whole_formula

# Registered by python-liquid for its own machinery, not tags a template author writes.
_INTERNAL_TAGS = frozenset({"illegal", "content", "output"})


@cache
def supported_filters() -> frozenset[str]:
    """Every Liquid filter name: python-liquid's standard set and Tines' additions."""
    return frozenset(ENV.filters)


@cache
def supported_tags() -> frozenset[str]:
    """Every Liquid tag name (block tags by their opening name): standard and Tines' widgets."""
    return frozenset(ENV.tags) - _INTERNAL_TAGS


@cache
def supported_functions() -> frozenset[str]:
    """Every formula function name (``LAMBDA`` included)."""
    return frozenset(formula.FUNCTIONS) | {"LAMBDA"}


@dataclass(frozen=True)
class Finding:
    """One construct in one option. ``unsupported`` means storyline would not run it as
    Tines does; a ``warning`` runs exactly as in Tines but is probably not what the
    author meant (a filter name Tines does not know either, which Tines ignores)."""

    option: str
    what: str
    reason: str
    severity: Literal["unsupported", "warning"] = "unsupported"


def _formulas(text: str) -> Iterator[tuple[str, int]]:
    """Each formula in a string with its 1-based start column: a whole ``=expr`` or ``<<pills>>``."""
    expression = whole_formula(text)
    if expression is not None:
        yield expression, 2
        return
    if "<<" in text and ">>" in text:
        for part in formula.split_pills(text):
            if not isinstance(part, str):
                yield part[0], part[1] + 1


def _liquid_source(text: str, formulas: bool) -> str | None:
    if formulas:
        if whole_formula(text) is not None:
            return None
        if "<<" in text and ">>" in text:
            text = "".join(p for p in formula.split_pills(text) if isinstance(p, str))
    return text if "{{" in text or "{%" in text else None


def _string_findings(text: str, option: str, formulas: bool) -> Iterator[Finding]:
    for expression, column in _formulas(text) if formulas else ():
        try:
            formula.parse(expression)
        except formula.FormulaError as err:
            at = column + err.position
            if err.detail.startswith("unknown function "):
                name = err.detail.removeprefix("unknown function ")
                yield Finding(option, f"function {name}", f"storyline has no formula function {name} (character {at})")
            else:
                yield Finding(option, "formula", f"formula error at character {at}: {err.detail}")
    source = _liquid_source(text, formulas)
    if source is None:
        return
    try:
        analysis = compile_liquid(source).template.analyze()
    except TemplateError as err:
        yield Finding(option, "liquid", str(err))
        return
    known = supported_filters()
    for name in analysis.filters:
        if name not in known:
            yield Finding(
                option,
                f"filter {name}",
                f"unknown filter '{name}': Tines passes the value through unchanged and so does storyline",
                "warning",
            )


def _walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str):
                yield path, key
            yield from _walk(item, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{where}[{i}]")


def template_findings(options: Any, where: str = "", *, formulas: bool = True) -> list[Finding]:
    """Every construct in ``options`` (an action's options, keys included) that storyline
    would not run as Tines does, plus warnings; each names its option path. ``formulas``
    is False for a story from before Tines had formulas (``values.formulas_in``)."""
    return [f for path, text in _walk(options, where) for f in _string_findings(text, path, formulas)]


def template_problems(value: Any, where: str, *, formulas: bool = True) -> list[str]:
    """One sentence per template that does not parse, naming the option path (``payload.text``)."""
    return [
        f"option '{f.option}': {f.reason}"
        for f in template_findings(value, where, formulas=formulas)
        if f.severity == "unsupported"
    ]

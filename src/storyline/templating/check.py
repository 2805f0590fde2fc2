"""Find template syntax errors in an action's options at import time, before any event arrives."""

from __future__ import annotations

from typing import Any

from storyline.templating import formula
from storyline.templating.base import TemplateError
from storyline.templating.render import compile_liquid


def _string_problem(text: str) -> str | None:
    if text[:1] == "=" and text[1:2] != "=":
        try:
            formula.parse(text[1:])
        except formula.FormulaError as err:
            return f"formula error at character {err.position + 2}: {err.detail}"
        return None
    liquid = text
    if "<<" in text and ">>" in text:
        parts = formula.split_pills(text)
        for part in parts:
            if not isinstance(part, str):
                try:
                    formula.parse(part[0])
                except formula.FormulaError as err:
                    return f"formula error at character {part[1] + err.position + 1}: {err.detail}"
        liquid = "".join(p if isinstance(p, str) else "" for p in parts)
    if "{{" in liquid or "{%" in liquid:
        try:
            compile_liquid(liquid)
        except TemplateError as err:
            return str(err)
    return None


def template_problems(value: Any, where: str) -> list[str]:
    """One sentence per template that does not parse, naming the option path (``payload.text``)."""
    if isinstance(value, str):
        problem = _string_problem(value)
        return [f"option '{where}': {problem}"] if problem else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in template_problems(item, f"{where}.{key}" if where else str(key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in template_problems(item, f"{where}[{i}]")]
    return []

"""Tines' formula language: ``<<expr>>`` pills in text and whole-value ``=expr`` fields.

The language is ``syntax`` (tokens, parser, pills) and ``evaluator`` (what each node
means); ``functions`` is its library. A parse is cached per source text; evaluating the
tree against an event is cheap. The language is
JSON-typed: paths into the event (``receive_events.users``, ``a["key-with-dash"][0]``),
the ``CREDENTIAL``/``RESOURCE``/``META``/``STORY`` roots, literals (``'text'``, ``"text"``,
numbers, ``TRUE``/``FALSE``/``NULL``, ``[arrays]``, ``{objects}``), UPPERCASE function
calls, ``LAMBDA`` for ``FILTER``/``MAP``, and operators ``|>``, ``||``/``OR``,
``&&``/``AND``, ``=``/``==``/``!=``/``<``/``>``/``<=``/``>=``, ``&`` (text
concatenation), ``+ - * /`` and unary ``!``/``-``.

Truthiness is Ruby's: only ``FALSE`` and ``NULL`` are false. A missing
path is ``NULL``, never an error. Syntax errors and bad calls raise
:class:`~storyline.templating.TemplateError` naming the position.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Scope
from .evaluator import Context, FormulaError
from .functions import FUNCTIONS
from .syntax import parse, split_pills

__all__ = ["FUNCTIONS", "FormulaError", "evaluate", "parse", "split_pills"]


def evaluate(source: str, names: Mapping[str, Any], scope: Scope) -> Any:
    """Evaluate one expression against ``names`` (event plus reserved roots)."""
    tree = parse(source)
    try:
        return tree.evaluate(Context(names, scope, source=source))
    except RecursionError:
        raise FormulaError(source, 0, "the formula or its data nests too deeply") from None

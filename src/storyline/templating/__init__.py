"""Tines' template dialects: Liquid with leading-dot paths and custom tags, and formulas.

The engine calls ``render_value(value, event, scope)`` on an action's options; every
string inside is rendered against the incoming event (all upstream outputs by key)
plus the ``CREDENTIAL``, ``RESOURCE``, ``META`` and ``STORY`` roots.

Modules: ``render`` (entry points, caching), ``preprocess`` (leading dots and other
Tines leniencies rewritten to standard Liquid), ``tags`` (``{% credential %}``,
``{% prompt %}``, ...), ``filters`` (``as_object``, ``where``, ``jsonpath``, ...),
``security`` (indicator extraction and verdicts), ``formula`` (``<<pills>>`` and ``=expr``),
``values`` (Tines' value semantics: text, JSON, equality, truthiness, numbers),
``encoding`` (hashes, HMAC and encodings), ``regexes`` (Ruby patterns), ``roots`` (lazy
``CREDENTIAL``/``RESOURCE``/``META``/``STORY``).
"""

from __future__ import annotations

from .base import Scope, StaticScope, TemplateError, option_path
from .render import render_text, render_value

__all__ = ["Scope", "StaticScope", "TemplateError", "option_path", "render_text", "render_value"]

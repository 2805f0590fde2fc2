"""Tines' value semantics: how a value prints, compares, counts as true or as a number.

Tines runs on Ruby, and stories depend on Ruby's answers: objects and arrays print as
JSON (never a language repr), booleans as ``true``/``false``, nulls as nothing; a rule's
``201`` equals webhook text ``"201"``; only ``null`` and ``false`` are false. Every
action, filter and formula asks this module, so a value means the same in a rule, a
filter, a formula, an HTTP request and an e-mail. (Ruby's regular expressions are
:mod:`storyline.templating.regexes`.)
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from liquid import Undefined

_TEMPLATE_MARKERS = ("{{", "{%", "<<")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_missing(value: object) -> bool:
    """True for ``None`` and Liquid's ``Undefined`` (a missing path), the two "nothing" values."""
    return value is None or isinstance(value, Undefined)


def to_json_value(value: Any) -> Any:
    """Return a JSON-safe deep copy of ``value``.

    Native results (``as_object``, ``=formula``) become event data, which must be plain
    JSON and must not alias the incoming event's objects (events are write-once). Exact
    type checks first: this runs on whole response bodies on the hot path.
    """
    t = type(value)
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    if t is dict:
        return {k if type(k) is str else str(k): to_json_value(v) for k, v in value.items()}
    if t is list:
        return [to_json_value(v) for v in value]
    return _to_json_value_slow(value)


def _to_json_value_slow(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # plain str: subclasses (StoryRef, Markup, ...) stay internal
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, range):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, range)):
        return list(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Serialise like Tines: compact JSON, UTF-8 kept as is."""
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def to_text(value: Any) -> str:
    """Render any template value as text the way Tines prints it."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return to_json(value)
    if isinstance(value, range):
        return f"{value.start}..{value.stop - 1}"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def loose_equal(left: Any, right: Any) -> bool:
    """Equality between an event's value and one a story wrote (``field==value``, ``in``, ``where``).

    Both sides compare as Ruby prints them (:func:`to_text`), so webhook text ``"true"``
    equals ``true`` and null equals ``""``; a JSON number on either side also equals a
    numerically equal other side (``201`` == ``"201.0"``). Blank text counts as 0 only for
    ordering (:func:`to_number`), never as equal to a number.
    """
    if to_text(left) == to_text(right):
        return True
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, int | float) or isinstance(right, int | float):
        a, b = to_number(left), to_number(right)
        if (isinstance(left, str) and not left.strip()) or (isinstance(right, str) and not right.strip()):
            return False
        return a is not None and b is not None and a == b
    return False


def truthy(value: Any) -> bool:
    """Ruby's truthiness, which formulas and ``where`` keep: only null (or a missing path) and false are false."""
    return value is not None and value is not False and not isinstance(value, Undefined)


def option_flag(value: Any) -> bool:
    """Whether an on/off option is on: Tines options carry booleans as text ("true"/"false") as often as JSON."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def to_number(value: Any) -> float | None:
    """A number for numeric rules and options, or None when the value is not numeric.

    Blank text and null are 0 (Ruby ``"".to_f``); booleans, NaN and other text are not
    numbers, where Ruby would silently read them as 0.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if _NUMBER.fullmatch(text):
            return float(text)
    return None


def is_templated(value: Any) -> bool:
    """True when an option string is rendered at run time, so it cannot be checked up front.

    Liquid (``{{``/``{%``), formula pills (``<<``) and whole-field formulas (leading ``=``).
    Lenient on purpose: in a story from before formulas a leading ``=`` is text (see
    :func:`formulas_in`), and treating it as templated only skips a check done up front.
    """
    if not isinstance(value, str):
        return False
    return any(marker in value for marker in _TEMPLATE_MARKERS) or value.lstrip().startswith("=")


# Formulas (whole fields written ``=expr``, ``<<pills>>`` in text) are younger than Tines'
# exports. Before them, every option string was a Liquid template and nothing else, as in
# Huginn, which Tines grew from: Huginn's ``interpolate_options`` hands every string to
# ``Liquid::Template.parse(string).render!``
# (https://github.com/huginn/huginn/blob/master/app/concerns/liquid_interpolatable.rb), and
# Tines' Liquid page says "Tines supports the use of the Liquid templating engine in Action
# options blocks" (https://hub.tines.com/docs/actions/liquid). The leading ``=`` records a
# field in the formula editor's "single value mode" ("Formulas have no direct equivalent to
# as_object. Instead a field is either in "text mode" or "single value mode"",
# https://www.tines.com/docs/formulas/from-liquid/; "Using a formula field will return the
# value directly, rather than converting it to text", https://www.tines.com/docs/formulas),
# a mode older stories could not have. So ``="{{ .RESOURCE.email }}"`` in a 2021 export
# renders as Tines rendered it then: ``="alice@example.com"``, the ``=`` and the quotes kept.
#
# No Tines page dates formulas against export schemas. The 40 schema 1, 3 and 4 exports in
# ../shared/tines-stories (71 stories with their embedded sub-stories, 2018-09 to 2022-03)
# hold no formula and no ``<<pill>>``: their only values that begin with ``=`` are two Jira
# comments headed ``===GreyNoise IP Lookup===``. The first export seen with formulas is
# schema 6 (2023-02, ../shared/reference/tines-format.md), which also brings
# ``standard_lib_version``. Schemas 1 and 3 (exports of 2018 to 2021) are taken as older
# than formulas. Schema 4 was current in 2022 and may span their arrival, so it counts as a
# formula schema: reading a formula as text would break every formula field of such a
# story, reading text as a formula only text that begins with ``=`` or holds ``<<...>>``
# (none of the three schema-4 stories seen has either).
FIRST_SCHEMA_WITH_FORMULAS = 4


def formulas_in(schema_version: int | None) -> bool:
    """Whether a story of this Tines export schema may hold formulas (None: written for storyline)."""
    return schema_version is None or schema_version >= FIRST_SCHEMA_WITH_FORMULAS


def whole_formula(text: str) -> str | None:
    """The expression of a whole-field formula (``=expr``), or None when ``text`` is not one.

    The one test of "is this a formula field" for rendering and checking, asked only of
    stories :func:`formulas_in` says may hold formulas. ``==`` starts text, not a formula
    (a heading such as ``===IP Lookup===``).
    """
    return text[1:] if text[:1] == "=" and text[1:2] != "=" else None

"""Tines' Liquid filters beyond the standard set, registered on the shared environment.

Every filter here is lenient about missing input (an undefined path or ``nil`` gives an
empty result rather than an error), because Tines renders missing paths as nothing and
real stories rely on that. Malformed input that the author controls (bad JSON passed to
``json_parse``, a bad regular expression) raises, so the action fails with a reason.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import email
import email.policy
import functools
import hashlib
import io
import json
import re
import warnings
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage, Message
from functools import lru_cache
from typing import Any

import jwt
from dateutil import parser as date_parser
from liquid import Environment
from liquid.exceptions import FilterError

from . import jsonpath as jsonpath_module
from . import regexes
from .base import TemplateError
from .encoding import OPERATIONS, to_bytes
from .values import is_missing, loose_equal, to_json, to_text, truthy

_BRACKET_STEP = re.compile(r"""\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+))\s*\]""")
_QUOTED_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def path_steps(path: str) -> tuple[str, ...]:
    """The keys of a data path: dotted (``a.b.0.c``), with ``["key"]``, ``['key']`` or
    ``[0]`` steps for keys that are not names (``users[0]["User ID"]``).

    Only ever read as data: whatever else the text holds is part of a key. Paths may come
    from events, so only short ones are cached.
    """
    return _path_steps(path) if len(path) <= 256 else _path_steps.__wrapped__(path)


@lru_cache(maxsize=1024)
def _path_steps(path: str) -> tuple[str, ...]:
    steps: list[str] = []

    def dotted(text: str) -> None:
        steps.extend(part for part in text.split(".") if part)

    pos = 0
    for m in _BRACKET_STEP.finditer(path):
        dotted(path[pos : m.start()])
        quoted = m.group(1) if m.group(1) is not None else m.group(2)
        steps.append(m.group(3) if quoted is None else _QUOTED_ESCAPE.sub(r"\1", quoted))
        pos = m.end()
    dotted(path[pos:])
    return tuple(steps)


def dig(obj: Any, path: Any) -> Any:
    """Follow a data path (see :func:`path_steps`) through dicts and lists; ``None`` when absent."""
    if is_missing(path):
        return None
    if isinstance(path, str):
        if isinstance(obj, Mapping) and path in obj:
            return obj[path]  # a key that itself contains dots
        parts: Sequence[Any] = path_steps(path)
        if not parts:
            return None
    else:
        parts = [path]
    for part in parts:
        if isinstance(obj, Mapping):
            try:
                obj = obj[part if isinstance(part, str) else to_text(part)]
                continue
            except KeyError:
                return None
        if isinstance(obj, Sequence) and not isinstance(obj, str):
            try:
                obj = obj[int(part)]
                continue
            except (ValueError, TypeError, IndexError, OverflowError):
                return None
        return None
    return obj


def _as_list(value: Any) -> list[Any]:
    if is_missing(value):
        return []
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (list, tuple, range)):
        return list(value)
    return [value]


def _flat(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Nested arrays flattened, as Ruby Liquid's ``InputIterator`` gives them to ``map``."""
    out: list[Any] = []
    for item in items:
        out.extend(_flat(item) if isinstance(item, (list, tuple)) else [item])
    return out


# -- JSON ------------------------------------------------------------------------------


def as_object(value: Any) -> Any:
    """Mark a value as an object; as the whole template it yields the value itself.

    A string holding a JSON object or array is parsed, since ``as_object`` is how stories
    pass JSON text received from webhooks on as structured data. Raw line breaks inside
    its strings are accepted: stories build such text with ``{% for %}`` from values that
    hold them (the chatops story's Slack fields).
    """
    if is_missing(value):
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                return json.loads(stripped, strict=False)
            except ValueError:
                return value
    return value


def json_parse(value: Any) -> Any:
    """Parse JSON text; objects pass through (``as_object | parse_json`` is seen in exports)."""
    if is_missing(value):
        return None
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except ValueError as err:
        raise FilterError(f"json_parse: invalid JSON ({err})", token=None) from err


def to_json_filter(value: Any) -> str:
    """Serialise to compact JSON (``null`` for a missing path)."""
    return to_json(None if is_missing(value) else value)


def neat_json(value: Any) -> str:
    """Serialise to indented JSON for human-readable messages (Ruby's neat_json)."""
    return to_json(None if is_missing(value) else value, indent=2)


def where(seq: Any, key: Any, value: Any = None) -> Any:
    """Items whose ``key`` (a dotted path) equals ``value`` as Tines compares, or is truthy when no value given.

    Nothing (an undefined or nil input) stays nothing, as it prints in Ruby Liquid."""
    if is_missing(seq):
        return seq
    items = _as_list(seq)
    if value is None or is_missing(value):
        return [i for i in items if truthy(dig(i, key))]
    return [i for i in items if loose_equal(dig(i, key), value)]


def get(obj: Any, key: Any) -> Any:
    """Value at ``key`` (dotted path or index).

    On an array and a non-numeric key the first element is used, which is what the
    ``where: ... | get: "id"`` idiom in real exports expects.
    """
    if is_missing(obj):
        return None
    if isinstance(obj, (list, tuple)) and not (isinstance(key, int) or str(key).lstrip("-").isdigit()):
        if not obj:
            return None
        obj = obj[0]
    return dig(obj, key)


def map_filter(seq: Any, key: Any) -> list[Any]:
    """The ``key`` (dotted path) of every item."""
    return [dig(i, key) for i in _flat(_as_list(seq))]


def jsonpath(obj: Any, path: Any) -> list[Any]:
    """Values selected by a JSONPath (``$.a[*].b``, ``$..x``, ``*.name``); always a list."""
    if is_missing(obj) or is_missing(path):
        return []
    try:
        return jsonpath_module.query(obj, str(path))
    except TemplateError as err:
        raise FilterError(str(err), token=None) from None


# -- signing ---------------------------------------------------------------------------


def _jwt_key(key: Any, algorithm: str) -> Any:
    if isinstance(key, Mapping):
        # A JWK (Tines accepts JWK as well as PEM for RSA and EC keys).
        return jwt.PyJWK.from_dict(dict(key), algorithm=algorithm).key
    text = to_text(key)
    if "-----BEGIN" in text and "\\n" in text:
        # A PEM pasted from a service-account JSON file keeps its escaped line breaks.
        text = text.replace("\\n", "\n")
    return text


def jwt_sign(claims: Any, key: Any = "", algorithm: Any = "RS256", headers: Any = None) -> str:
    """A signed JSON Web Token for a claim set (an object or its JSON text).

    RS256 unless an algorithm is named (HS*, RS*, PS*, ES*), as in Tines; ``headers``
    adds header fields such as ``kid``.
    """
    payload = json_parse(claims) if isinstance(claims, str) else claims
    if not isinstance(payload, Mapping):
        raise FilterError("jwt_sign: the claim set must be a JSON object", token=None)
    alg = "RS256" if is_missing(algorithm) or algorithm == "" else str(algorithm)
    # Ruby's jwt gem writes no "typ" unless asked, and keeps header fields in order.
    extra = {"typ": None, **(dict(headers) if isinstance(headers, Mapping) else {})}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.encode(dict(payload), _jwt_key(key, alg), algorithm=alg, headers=extra, sort_headers=False)
    except (jwt.PyJWTError, ValueError, TypeError, NotImplementedError) as err:
        # The key is a secret: name the problem, never the key.
        raise FilterError(f"jwt_sign: cannot sign with {alg}: {type(err).__name__}", token=None) from None


# -- text ------------------------------------------------------------------------------


def _regexes(func: Callable[..., Any]) -> Callable[..., Any]:
    """A story pattern that does not compile or runs too long fails the filter (and so the
    template) with Liquid's position of the filter in the text."""

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        try:
            return func(*args)
        except regexes.RegexError as err:
            raise FilterError(str(err), token=None) from None

    return wrapper


def _pattern(pattern: Any, modifiers: Any = None) -> regexes.Pattern:
    """A story's pattern with Ruby modifiers (``i``, ``m`` for dot-all, ``x``)."""
    return regexes.compile(to_text(pattern), "" if is_missing(modifiers) else str(modifiers))


@_regexes
def regex_replace(value: Any, pattern: Any, replacement: Any = "", flags: Any = None) -> str:
    """Replace every match of a regular expression; ``\\1`` refers to groups."""
    if is_missing(pattern):
        return to_text(value)
    return _pattern(pattern, flags).replace(to_text(replacement), to_text(value))


@_regexes
def regex_extract(value: Any, pattern: Any, group: Any = 0) -> Any:
    """First match of a regular expression (or the given group), ``nil`` when none."""
    if is_missing(pattern):
        return None
    m = _pattern(pattern).search(to_text(value))
    if m is None:
        return None
    try:
        return m.group(int(group) if not is_missing(group) else 0)
    except (IndexError, ValueError):
        return None


@_regexes
def regex_match(value: Any, pattern: Any, modifiers: Any = None) -> bool:
    """Whether the pattern matches anywhere in the text (``MATCH``); ``nil`` text never matches."""
    if value is None or is_missing(value):
        return False
    return _pattern(pattern, modifiers).search(to_text(value)) is not None


@_regexes
def regex_scan(value: Any, pattern: Any, modifiers: Any = None) -> list[Any]:
    """Every match, as Ruby's ``String#scan``: the matched texts, or with groups an
    array of each match's groups (``REGEX_EXTRACT``)."""
    return _pattern(pattern, modifiers).scan(to_text(value))


def csv_parse(value: Any) -> list[list[str]]:
    """Parse CSV text into an array of rows (arrays of strings)."""
    if is_missing(value):
        return []
    return [row for row in csv.reader(io.StringIO(to_text(value))) if row]


# -- dates -----------------------------------------------------------------------------

_RUBY_DIRECTIVE = re.compile(r"%(-?)(\d*)([sLN])")


def to_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("now", "today"):
            return dt.datetime.now(dt.UTC)
        try:  # epoch seconds; Ruby Liquid takes no sign (``'-1152098955'`` is not a date)
            return dt.datetime.fromtimestamp(float(text), dt.UTC) if text[:1] != "-" else None
        except (ValueError, OverflowError, OSError):
            pass
        try:
            parsed = date_parser.parse(text)
        except (ValueError, OverflowError):
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def date(value: Any, fmt: Any = None, timezone: Any = None) -> Any:
    """Format a date (``"now"``, epoch seconds, or date text) with strftime, in UTC or ``timezone``.

    Ruby directives Python lacks are handled: ``%s`` (epoch seconds), ``%L`` (milliseconds)
    and ``%N`` / ``%3N`` (fractional seconds). Unparseable input is returned unchanged,
    as Liquid does.
    """
    if is_missing(value):
        return ""
    when = to_datetime(value)
    if when is None:
        return value
    if not is_missing(timezone) and timezone != "":
        try:
            when = when.astimezone(zoneinfo.ZoneInfo(str(timezone)))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise FilterError(f"date: unknown time zone {timezone!r}", token=None) from err
    if fmt is None:  # no format at all: ISO 8601
        return when.isoformat()
    if is_missing(fmt) or fmt == "":  # an empty or undefined one: the input, as Ruby Liquid does
        return value

    def _ruby(m: re.Match[str]) -> str:
        width = m.group(2)
        kind = m.group(3)
        if kind == "s":
            return str(int(when.timestamp()))
        if kind == "L":
            return f"{when.microsecond // 1000:03d}"
        digits = int(width) if width else 9
        return f"{when.microsecond:06d}{'0' * 3}"[:digits]

    text = _RUBY_DIRECTIVE.sub(_ruby, str(fmt))
    try:
        return when.strftime(text)
    except ValueError as err:
        raise FilterError(f"date: bad format {fmt!r}: {err}", token=None) from err


# -- email -----------------------------------------------------------------------------


def _address_list(msg: EmailMessage, header: str) -> Any:
    values = msg.get_all(header) or []
    out: list[str] = []
    for value in values:
        try:
            out.extend(addr.addr_spec for addr in value.addresses)
        except AttributeError:
            out.append(str(value))
    return out


def eml_parse(value: Any) -> Any:
    """Parse an RFC 822 message into the shape Tines' Receive Email action emits.

    Keys: ``message_id``, ``subject``, ``from``, ``to``, ``cc``, ``date``, ``headers``,
    ``body`` (HTML when present, else text), ``text_body``, ``html_body`` and
    ``attachments`` (``filename``, ``content_type``, ``sizeinbytes``, ``md5``, ``sha1``,
    ``sha256``, ``base64encodedcontents``).
    """
    if is_missing(value):
        return None
    raw = to_bytes(value)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    text_body = html_body = None
    attachments: list[dict[str, Any]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if (
            disposition == "attachment"
            or (disposition == "inline" and part.get_filename())
            or (ctype == "message/rfc822")
        ):
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):  # message/rfc822: the payload is the attached message
                inner = part.get_payload()
                first = inner[0] if isinstance(inner, list) and inner else None
                payload = first.as_bytes() if isinstance(first, Message) else b""
            attachments.append(
                {
                    "filename": part.get_filename() or "",
                    "content_type": ctype,
                    "sizeinbytes": len(payload),
                    "md5": hashlib.md5(payload).hexdigest(),
                    "sha1": hashlib.sha1(payload).hexdigest(),
                    "sha256": hashlib.sha256(payload).hexdigest(),
                    "base64encodedcontents": base64.b64encode(payload).decode("ascii"),
                }
            )
            continue
        if ctype == "text/plain" and text_body is None:
            text_body = part.get_content()
        elif ctype == "text/html" and html_body is None:
            html_body = part.get_content()
    headers: dict[str, Any] = {}
    for name, header_value in msg.items():
        text = str(header_value)
        if name in headers:
            existing = headers[name]
            headers[name] = [*existing, text] if isinstance(existing, list) else [existing, text]
        else:
            headers[name] = text
    return {
        "message_id": str(msg.get("Message-ID", "") or ""),
        "subject": str(msg.get("Subject", "") or ""),
        "from": ", ".join(_address_list(msg, "From")),
        "to": _address_list(msg, "To"),
        "cc": _address_list(msg, "Cc"),
        "date": str(msg.get("Date", "") or ""),
        "headers": headers,
        "body": html_body if html_body is not None else (text_body or ""),
        "text_body": text_body or "",
        "html_body": html_body or "",
        "attachments": attachments,
    }


def join(items: Any, separator: Any = " ") -> str:
    """Join items as text; objects inside print as JSON and nils as nothing."""
    sep = "" if is_missing(separator) else to_text(separator)
    return sep.join(to_text(i) for i in _as_list(items))


# Standard filters that turn their input into text with Python's ``str()``; objects and
# booleans must print as Tines prints them (JSON, ``true``) instead.
_TEXT_INPUT_FILTERS = (
    "append", "prepend", "capitalize", "downcase", "upcase", "escape", "escape_once",
    "lstrip", "rstrip", "strip", "newline_to_br", "remove", "remove_first", "remove_last",
    "replace", "replace_first", "replace_last", "split", "strip_html", "strip_newlines",
    "truncate", "truncatewords", "squish",
)  # fmt: skip


def _textify(value: Any) -> Any:
    if isinstance(value, (Mapping, list, tuple, bool)):
        return to_text(value)
    return value


def _wrapped(func: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    # Keep python-liquid's markers (with_context / with_environment) working.
    for marker in ("with_context", "with_environment"):
        if getattr(func, marker, False):
            setattr(wrapper, marker, True)
    wrapper.__doc__ = func.__doc__
    wrapper.__name__ = getattr(func, "__name__", "filter")
    return wrapper


def _with_text_input(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        return func(_textify(value), *(_textify(a) for a in args), **kwargs)

    return _wrapped(func, wrapper)


_NOTHING_STAYS_NOTHING = ("split", "compact", "sort_natural")
"""Standard filters that python-liquid turns nothing (undefined, nil) into ``[]``; Ruby Liquid's
``[]`` prints as nothing, while storyline prints arrays as JSON as Tines does, so nothing
stays nothing: it prints as Ruby Liquid prints it, and ``size``/``first``/``join`` agree."""


def _keeping_nothing(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        result = func(value, *args, **kwargs)  # called anyway: a wrong argument count still fails
        return value if is_missing(value) else result

    return _wrapped(func, wrapper)


def register(env: Environment) -> None:
    """Add Tines' filters to ``env`` (overriding standard ones whose semantics differ)."""
    for name in _TEXT_INPUT_FILTERS:
        if name in env.filters:
            env.add_filter(name, _with_text_input(env.filters[name]))
    for name in _NOTHING_STAYS_NOTHING:
        env.add_filter(name, _keeping_nothing(env.filters[name]))
    filters: dict[str, Callable[..., Any]] = {
        "as_object": as_object,
        "json_parse": json_parse,
        "parse_json": json_parse,
        "to_json": to_json_filter,
        "json": to_json_filter,
        "jsonify": to_json_filter,
        "neat_json": neat_json,
        "pretty_json": neat_json,
        "where": where,
        "get": get,
        "map": map_filter,
        "join": join,
        "jsonpath": jsonpath,
        "regex_replace": regex_replace,
        "regex_extract": regex_extract,
        "csv_parse": csv_parse,
        "date": date,
        "eml_parse": eml_parse,
        "jwt_sign": jwt_sign,
    }
    for name, func in filters.items():
        env.add_filter(name, func)
    aliases = {"base64_url_safe_encode": "base64url_encode", "base64_url_safe_decode": "base64url_decode"}
    operations = {**OPERATIONS, **{alias: OPERATIONS[name] for alias, name in aliases.items()}}
    for name, operation in operations.items():
        env.add_filter(name, _reporting_bad_input(name, operation))


def _reporting_bad_input(name: str, operation: Callable[..., Any]) -> Callable[..., Any]:
    """A hash or encoding given input it cannot decode fails the template naming the filter."""

    @functools.wraps(operation)
    def wrapper(*args: Any) -> Any:
        try:
            return operation(*args)
        except ValueError as err:
            raise FilterError(f"{name}: {err}", token=None) from None

    return wrapper

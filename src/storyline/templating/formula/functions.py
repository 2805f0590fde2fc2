"""The formula function library: ``IF``, ``MAP``, ``DATE``, ``HMAC_SHA256`` ... by name.

Each function takes the evaluation :class:`~.evaluator.Context` first, then its evaluated
arguments, except the ``LAZY`` ones, which take their argument nodes so ``IF``, ``AND``
and ``OR`` evaluate only what they need. Hashes and encodings are the Liquid filters'
own operations (:mod:`storyline.templating.encoding`); regular expressions and dates are
the Liquid filters' too, so both dialects agree.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import filters, security
from ..encoding import OPERATIONS, url_decode, url_encode
from ..values import to_json, to_text, truthy
from .evaluator import Context, Lambda, Node, as_number, equal


def _len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (str, list, tuple, Mapping)):
        return len(value)
    return len(to_text(value))


def _call(fn: Any, *args: Any) -> Any:
    if isinstance(fn, Lambda):
        return fn(*args)
    raise TypeError("expected a LAMBDA")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _if(ctx: Context, args: list[Node]) -> Any:
    if len(args) not in (2, 3):
        raise TypeError("IF takes 2 or 3 arguments")
    if truthy(args[0].evaluate(ctx)):
        return args[1].evaluate(ctx)
    return args[2].evaluate(ctx) if len(args) == 3 else None


def _and(ctx: Context, args: list[Node]) -> Any:
    return all(truthy(a.evaluate(ctx)) for a in args)


def _or(ctx: Context, args: list[Node]) -> Any:
    return any(truthy(a.evaluate(ctx)) for a in args)


def _empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


def _default(ctx: Context, value: Any, *fallbacks: Any) -> Any:
    """The first of value, fallbacks... that is not null, FALSE or empty; else the first
    fallback, or the last one when the final argument is ``{use_last_fallback: TRUE}``."""
    use_last = False
    if fallbacks and isinstance(fallbacks[-1], Mapping) and set(fallbacks[-1]) == {"use_last_fallback"}:
        use_last = truthy(fallbacks[-1]["use_last_fallback"])
        fallbacks = fallbacks[:-1]
    for candidate in (value, *fallbacks):
        if not _empty(candidate):
            return candidate
    if not fallbacks:
        return None
    return fallbacks[-1] if use_last else fallbacks[0]


def _join(ctx: Context, items: Any, sep: Any = "") -> str:
    return to_text(sep).join(to_text(i) for i in _list(items))


def _concat(ctx: Context, *values: Any) -> Any:
    if values and all(isinstance(v, (list, tuple)) for v in values):
        return [x for v in values for x in v]
    return "".join(to_text(v) for v in values)


def _first(ctx: Context, value: Any, n: Any = None) -> Any:
    if isinstance(value, str):
        return value[: int(n)] if n is not None else value[:1]
    items = _list(value)
    if n is not None:
        return items[: int(n)]
    return items[0] if items else None


def _last(ctx: Context, value: Any, n: Any = None) -> Any:
    if isinstance(value, str):
        return value[-int(n) :] if n is not None else value[-1:]
    items = _list(value)
    if n is not None:
        return items[-int(n) :] if int(n) else []
    return items[-1] if items else None


def _match(ctx: Context, text: Any, pattern: Any, modifiers: Any = None) -> bool:
    return filters.regex_match(text, pattern, modifiers)


def _regex_extract(ctx: Context, text: Any, pattern: Any, modifiers: Any = None) -> list[Any]:
    return filters.regex_scan(text, pattern, modifiers)


def _regex_replace(ctx: Context, text: Any, pattern: Any, replacement: Any = "", modifiers: Any = None) -> str:
    return filters.regex_replace(text, pattern, replacement, modifiers)


def _filter(ctx: Context, items: Any, fn: Any) -> list[Any]:
    return [item for item in _list(items) if truthy(_call(fn, item))]


def _map(ctx: Context, items: Any, path: Any) -> list[Any]:
    """The value at ``path`` in each item, or what a ``LAMBDA`` makes of each item.

    The path is data, never code: a dotted key path (``a.b.0.c``) with ``["key"]`` steps for
    keys that are not names (``["User ID"]``), read by :func:`filters.dig`. It may come from
    an event, so it is never parsed as a formula: ``name & DOWNCASE(CREDENTIAL.x)`` is
    just a path that leads nowhere.
    """
    if isinstance(path, Lambda):
        return [path(item) for item in _list(items)]
    return [filters.dig(item, path) for item in _list(items)]


def _map_lambda(ctx: Context, items: Any, fn: Any) -> list[Any]:
    if isinstance(items, Mapping):
        return [_call(fn, v, k) for k, v in items.items()]
    return [_call(fn, item) for item in _list(items)]


def _reduce(ctx: Context, items: Any, fn: Any, initial: Any = None) -> Any:
    acc = initial
    for item in _list(items):
        acc = _call(fn, acc, item)
    return acc


def _json_parse(ctx: Context, text: Any) -> Any:
    if text is None or not isinstance(text, str):
        return text
    return json.loads(text)


def _prompt(ctx: Context, status: Any) -> str:
    return ctx.scope.prompt_url(to_text(status))


def _story_run_guid(ctx: Context) -> str:
    return ctx.scope.story_run


def _story_run_link(ctx: Context) -> str:
    link = getattr(ctx.scope, "story_run_link", None)
    return to_text(link()) if callable(link) else ""


def _text1(fn: Callable[[str], Any]) -> Callable[..., Any]:
    def wrapper(ctx: Context, value: Any) -> Any:
        return fn(to_text(value))

    return wrapper


def _includes(ctx: Context, haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        return to_text(needle) in haystack
    if isinstance(haystack, Mapping):
        return needle in haystack
    return any(equal(x, needle) for x in _list(haystack))


def _uniq(ctx: Context, items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items):
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _object(ctx: Context, *args: Any) -> dict[str, Any]:
    if len(args) % 2:
        raise TypeError("OBJECT takes key, value pairs")
    return {to_text(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def _split(ctx: Context, text: Any, sep: Any = None) -> list[str]:
    s = to_text(text)
    if sep is None or sep == "":
        return s.split() if sep is None else list(s)
    return s.split(to_text(sep))


def _replace(ctx: Context, text: Any, old: Any, new: Any = "") -> str:
    return to_text(text).replace(to_text(old), to_text(new))


def _is_blank(ctx: Context, value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == []
        or value == {}
        or (isinstance(value, str) and not value.strip())
    )


def _operation(operation: Callable[..., str]) -> Callable[..., str]:
    def wrapper(ctx: Context, *args: Any) -> str:
        return operation(*args)

    return wrapper


def _number_fn(fn: Callable[[float], Any]) -> Callable[..., Any]:
    def wrapper(ctx: Context, value: Any) -> Any:
        return fn(as_number(value, ctx, 0, "function"))

    return wrapper


def _flatten(ctx: Context, items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items):
        if isinstance(item, (list, tuple)):
            out.extend(_flatten(ctx, item))
        else:
            out.append(item)
    return out


def _keys(ctx: Context, value: Any) -> list[Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, found {to_json(value)}")
    return list(value)


def _values(ctx: Context, value: Any) -> list[Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, found {to_json(value)}")
    return list(value.values())


def _now(ctx: Context) -> str:
    """The current time as ISO 8601 text (UTC); the scope's clock when it has one."""
    clock = getattr(ctx.scope, "now", None)
    epoch = clock() if callable(clock) else time.time()
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def _date(ctx: Context, value: Any, fmt: Any = None, timezone: Any = None) -> Any:
    if value is None:
        return None
    if filters.to_datetime(value) is None:
        raise ValueError(f"cannot read a date from {to_json(value)}")
    return filters.date(value, fmt, timezone)


def _jwt_sign(ctx: Context, claims: Any, key: Any, algorithm: Any = "RS256", headers: Any = None) -> str:
    return filters.jwt_sign(claims, key, algorithm, headers)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "IF": _if,
    "AND": _and,
    "OR": _or,
    "NOT": lambda ctx, v: not truthy(v),
    "DEFAULT": _default,
    "SIZE": lambda ctx, v: _len(v),
    "COUNT": lambda ctx, v: _len(v),
    "LENGTH": lambda ctx, v: _len(v),
    "JOIN": _join,
    "UPCASE": _text1(str.upper),
    "DOWNCASE": _text1(str.lower),
    "CAPITALIZE": _text1(str.capitalize),
    "TRIM": _text1(str.strip),
    "STRIP": _text1(str.strip),
    "TEXT": lambda ctx, v: to_text(v),
    "CONCAT": _concat,
    "FIRST": _first,
    "LAST": _last,
    "MATCH": _match,
    "REGEX_EXTRACT": _regex_extract,
    "REGEX_REPLACE": _regex_replace,
    "FILTER": _filter,
    "MAP": _map,
    "MAP_LAMBDA": _map_lambda,
    "REDUCE": _reduce,
    "INCLUDES": _includes,
    "UNIQ": _uniq,
    "FLATTEN": _flatten,
    "KEYS": _keys,
    "VALUES": _values,
    "ARRAY": lambda ctx, *v: list(v),
    "OBJECT": _object,
    "SPLIT": _split,
    "REPLACE": _replace,
    "IS_BLANK": _is_blank,
    "IS_PRESENT": lambda ctx, v: not _is_blank(ctx, v),
    "JSON_PARSE": _json_parse,
    "JSON_ENCODE": lambda ctx, v: to_json(v),
    "TO_JSON": lambda ctx, v: to_json(v),
    "JSON_STRINGIFY": lambda ctx, v: to_json(v),
    **{name.upper(): _operation(operation) for name, operation in OPERATIONS.items()},
    # Formulas have always percent-encoded a space (%20) where Liquid writes "+" (Tines documents "+" for both).
    "URL_ENCODE": lambda ctx, v, how="uri": url_encode(v, how),
    "URL_DECODE": lambda ctx, v, how="uri": url_decode(v, how),
    "ROUND": lambda ctx, v, n=0: round(as_number(v, ctx, 0, "ROUND"), int(n)),
    "FLOOR": _number_fn(math.floor),
    "CEIL": _number_fn(math.ceil),
    "ABS": _number_fn(abs),
    "DATE": _date,
    "NOW": _now,
    "JWT_SIGN": _jwt_sign,
    "PROMPT": _prompt,
    "STORY_RUN_GUID": _story_run_guid,
    "STORY_RUN_LINK": _story_run_link,
    **security.FUNCTIONS,
}

LAZY = frozenset({"IF", "AND", "OR"})
"""Functions called with their argument nodes unevaluated."""

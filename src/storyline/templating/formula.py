"""Tines' formula language: ``<<expr>>`` pills in text and whole-value ``=expr`` fields.

A small hand-written recursive-descent parser turns an expression into a tree of nodes,
cached per source text; evaluating the tree against an event is cheap. The language is
JSON-typed: paths into the event (``receive_events.users``, ``a["key-with-dash"][0]``),
the ``CREDENTIAL``/``RESOURCE``/``META``/``STORY`` roots, literals (``'text'``, ``"text"``,
numbers, ``TRUE``/``FALSE``/``NULL``, ``[arrays]``, ``{objects}``), UPPERCASE function
calls, ``LAMBDA`` for ``FILTER``/``MAP``, and operators ``|>``, ``||``/``OR``,
``&&``/``AND``, ``=``/``==``/``!=``/``<``/``>``/``<=``/``>=``, ``&`` (text
concatenation), ``+ - * /`` and unary ``!``/``-``.

Truthiness is the formula language's: only ``FALSE`` and ``NULL`` are false. A missing
path is ``NULL``, never an error. Syntax errors and bad calls raise
:class:`~storyline.templating.TemplateError` naming the position.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from liquid.exceptions import LiquidError

from . import filters, security
from .base import DATA_ERRORS, Scope, TemplateError
from .values import to_json, to_text

# --------------------------------------------------------------------------- lexer

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|>|\|\||&&|==|!=|<=|>=|[-+*/<>=!&%(),.\[\]{}:])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "/": "/", "0": "\0"}

_KEYWORD_OPS = {"AND": "&&", "OR": "||"}


class Token:
    __slots__ = ("kind", "pos", "value")

    def __init__(self, kind: str, value: Any, pos: int) -> None:
        self.kind = kind
        self.value = value
        self.pos = pos

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Token({self.kind}, {self.value!r}, {self.pos})"


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens; an unknown character is a syntax error."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise _error(source, pos, f"unexpected character {source[pos]!r}")
        kind = m.lastgroup
        text = m.group()
        if kind == "number":
            tokens.append(Token("number", float(text) if any(c in text for c in ".eE") else int(text), pos))
        elif kind == "string":
            tokens.append(Token("string", _unescape(text[1:-1]), pos))
        elif kind == "name":
            # AND/OR are infix operators, except as the functions AND(...) and OR(...).
            if text in _KEYWORD_OPS and not source[m.end() :].lstrip().startswith("("):
                tokens.append(Token("op", _KEYWORD_OPS[text], pos))
            else:
                tokens.append(Token("name", text, pos))
        elif kind == "op":
            tokens.append(Token("op", text, pos))
        pos = m.end()
    tokens.append(Token("eof", None, len(source)))
    return tokens


class FormulaError(TemplateError):
    """A formula that does not parse or evaluate; ``position`` is 0-based in the expression."""

    def __init__(self, source: str, position: int, detail: str) -> None:
        super().__init__(f"formula error at position {position + 1}: {detail} in {source!r}")
        self.source = source
        self.position = position
        self.detail = detail


def _error(source: str, pos: int, message: str) -> FormulaError:
    return FormulaError(source, pos, message)


# --------------------------------------------------------------------------- runtime


class Context:
    """What an expression is evaluated against: event names, the scope, lambda locals."""

    __slots__ = ("locals", "names", "scope", "source")

    def __init__(
        self,
        names: Mapping[str, Any],
        scope: Scope,
        local_vars: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> None:
        self.names = names
        self.scope = scope
        self.locals: Mapping[str, Any] = local_vars or {}
        self.source = source

    def child(self, local_vars: Mapping[str, Any]) -> Context:
        return Context(self.names, self.scope, {**self.locals, **local_vars}, self.source)


def truthy(value: Any) -> bool:
    """Formula truthiness: everything except ``FALSE`` and ``NULL`` is true."""
    return value is not None and value is not False


class Lambda:
    """A ``LAMBDA(params..., body)`` value, closed over the context it was made in."""

    __slots__ = ("body", "ctx", "params")

    def __init__(self, params: list[str], body: Node, ctx: Context) -> None:
        self.params = params
        self.body = body
        self.ctx = ctx

    def __call__(self, *args: Any) -> Any:
        bound = dict(zip(self.params, args, strict=False))
        return self.body.evaluate(self.ctx.child(bound))


# --------------------------------------------------------------------------- nodes


class Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def evaluate(self, ctx: Context) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: Any) -> None:
        super().__init__(pos)
        self.value = value

    def evaluate(self, ctx: Context) -> Any:
        return self.value


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name

    def evaluate(self, ctx: Context) -> Any:
        if self.name in ctx.locals:
            return ctx.locals[self.name]
        try:
            return ctx.names[self.name]
        except KeyError:
            return None


def get_item(obj: Any, key: Any) -> Any:
    """One path step: dict key, list index (also from digit text), ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        try:
            return obj[key if isinstance(key, str) else to_text(key)]
        except KeyError:
            return None
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        if isinstance(key, str):
            if not key.lstrip("-").isdigit():
                return None
            key = int(key)
        if isinstance(key, bool) or not isinstance(key, (int, float)):
            return None
        try:
            return obj[int(key)]
        except IndexError:
            return None
    if isinstance(obj, str) and isinstance(key, str):
        try:
            return obj[key]  # StoryRef extends its path; plain text raises
        except TypeError:
            return None
    return None


class Attr(Node):
    __slots__ = ("key", "target")

    def __init__(self, pos: int, target: Node, key: str) -> None:
        super().__init__(pos)
        self.target = target
        self.key = key

    def evaluate(self, ctx: Context) -> Any:
        return get_item(self.target.evaluate(ctx), self.key)


class Index(Node):
    __slots__ = ("index", "target")

    def __init__(self, pos: int, target: Node, index: Node) -> None:
        super().__init__(pos)
        self.target = target
        self.index = index

    def evaluate(self, ctx: Context) -> Any:
        return get_item(self.target.evaluate(ctx), self.index.evaluate(ctx))


class ArrayLit(Node):
    __slots__ = ("items",)

    def __init__(self, pos: int, items: list[Node]) -> None:
        super().__init__(pos)
        self.items = items

    def evaluate(self, ctx: Context) -> Any:
        return [item.evaluate(ctx) for item in self.items]


class ObjectLit(Node):
    __slots__ = ("pairs",)

    def __init__(self, pos: int, pairs: list[tuple[Node, Node]]) -> None:
        super().__init__(pos)
        self.pairs = pairs

    def evaluate(self, ctx: Context) -> Any:
        return {to_text(k.evaluate(ctx)): v.evaluate(ctx) for k, v in self.pairs}


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, pos: int, op: str, operand: Node) -> None:
        super().__init__(pos)
        self.op = op
        self.operand = operand

    def evaluate(self, ctx: Context) -> Any:
        value = self.operand.evaluate(ctx)
        if self.op == "!":
            return not truthy(value)
        number = _number(value, ctx, self.pos, "-")
        return -number


def _number(value: Any, ctx: Context, pos: int, op: str) -> int | float:
    if isinstance(value, bool) or value is None:
        raise _error(ctx.source, pos, f"'{op}' needs numbers, found {to_json(value)}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                pass
    raise _error(ctx.source, pos, f"'{op}' needs numbers, found {to_json(value)}")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("=", "=="):
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if (isinstance(a, (int, float)) and isinstance(b, str)) or (
        isinstance(a, str) and isinstance(b, (int, float))
    ):
        try:
            a, b = float(a), float(b)
        except ValueError:
            return False
    try:
        if op == "<":
            return bool(a < b)
        if op == ">":
            return bool(a > b)
        if op == "<=":
            return bool(a <= b)
        return bool(a >= b)
    except TypeError:
        return False


class Binary(Node):
    __slots__ = ("left", "op", "right")

    def __init__(self, pos: int, op: str, left: Node, right: Node) -> None:
        super().__init__(pos)
        self.op = op
        self.left = left
        self.right = right

    def evaluate(self, ctx: Context) -> Any:
        op = self.op
        left = self.left.evaluate(ctx)
        if op == "||":
            return left if truthy(left) else self.right.evaluate(ctx)
        if op == "&&":
            return self.right.evaluate(ctx) if truthy(left) else left
        right = self.right.evaluate(ctx)
        if op == "&":
            return to_text(left) + to_text(right)
        if op in ("=", "==", "!=", "<", ">", "<=", ">="):
            return _compare(op, left, right)
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        if op == "+" and isinstance(left, list) and isinstance(right, list):
            return left + right
        a = _number(left, ctx, self.pos, op)
        b = _number(right, ctx, self.pos, op)
        if op == "/" and b == 0:
            raise _error(ctx.source, self.pos, "division by zero")
        try:
            return _arithmetic(op, a, b)
        except OverflowError:
            raise _error(ctx.source, self.pos, f"'{op}': the result is too large for a number") from None


def _arithmetic(op: str, a: int | float, b: int | float) -> int | float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    result = a / b
    return int(result) if isinstance(a, int) and isinstance(b, int) and result.is_integer() else result


class Pipe(Node):
    """``left |> right``: ``right`` sees the left value as ``%``."""

    __slots__ = ("left", "right")

    def __init__(self, pos: int, left: Node, right: Node) -> None:
        super().__init__(pos)
        self.left = left
        self.right = right

    def evaluate(self, ctx: Context) -> Any:
        return self.right.evaluate(ctx.child({"%": self.left.evaluate(ctx)}))


class LambdaNode(Node):
    __slots__ = ("body", "params")

    def __init__(self, pos: int, params: list[str], body: Node) -> None:
        super().__init__(pos)
        self.params = params
        self.body = body

    def evaluate(self, ctx: Context) -> Any:
        return Lambda(self.params, self.body, ctx)


class Call(Node):
    __slots__ = ("args", "func", "name")

    def __init__(self, pos: int, name: str, func: Callable[..., Any], args: list[Node]) -> None:
        super().__init__(pos)
        self.name = name
        self.func = func
        self.args = args

    def evaluate(self, ctx: Context) -> Any:
        try:
            if self.name in _LAZY:
                return self.func(ctx, self.args)
            return self.func(ctx, *[a.evaluate(ctx) for a in self.args])
        except TemplateError:
            raise
        except LiquidError as err:
            raise _error(ctx.source, self.pos, f"{self.name}: {err.message}") from None
        except DATA_ERRORS as err:
            raise _error(ctx.source, self.pos, f"{self.name}: {err}") from None


# --------------------------------------------------------------------------- functions


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
    return any(_equal(x, needle) for x in _list(haystack))


def _uniq(ctx: Context, items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items):
        if not any(_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _object(ctx: Context, *args: Any) -> dict[str, Any]:
    if len(args) % 2:
        raise TypeError("OBJECT takes key, value pairs")
    return {to_text(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def _hmac(algorithm: str) -> Callable[..., str]:
    def fn(ctx: Context, value: Any, key: Any) -> str:
        return hmac.new(to_text(key).encode(), to_text(value).encode(), algorithm).hexdigest()

    return fn


def _hash(algorithm: str) -> Callable[..., str]:
    def fn(ctx: Context, value: Any) -> str:
        return hashlib.new(algorithm, to_text(value).encode()).hexdigest()

    return fn


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


def _number_fn(fn: Callable[[float], Any]) -> Callable[..., Any]:
    def wrapper(ctx: Context, value: Any) -> Any:
        return fn(_number(value, ctx, 0, "function"))

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
    "BASE64_ENCODE": lambda ctx, v: base64.b64encode(to_text(v).encode()).decode("ascii"),
    "BASE64_DECODE": lambda ctx, v: base64.b64decode(to_text(v)).decode("utf-8", "replace"),
    "URL_ENCODE": lambda ctx, v: urllib.parse.quote(to_text(v), safe=""),
    "URL_DECODE": lambda ctx, v: urllib.parse.unquote(to_text(v)),
    "MD5": _hash("md5"),
    "SHA1": _hash("sha1"),
    "SHA256": _hash("sha256"),
    "HMAC_SHA1": _hmac("sha1"),
    "HMAC_SHA256": _hmac("sha256"),
    "ROUND": lambda ctx, v, n=0: round(_number(v, ctx, 0, "ROUND"), int(n)),
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

_LAZY = frozenset({"IF", "AND", "OR"})

_CONSTANTS = {"TRUE": True, "FALSE": False, "NULL": None}

# --------------------------------------------------------------------------- parser

_COMPARISON = ("=", "==", "!=", "<", ">", "<=", ">=")


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def expect(self, op: str) -> Token:
        if not self.at(op):
            raise self.error(f"expected '{op}'")
        return self.advance()

    def error(self, message: str, tok: Token | None = None) -> FormulaError:
        tok = tok or self.tok
        found = "end of formula" if tok.kind == "eof" else repr(tok.value)
        return _error(self.source, tok.pos, f"{message}, found {found}")

    def parse(self) -> Node:
        node = self.expression()
        if self.tok.kind != "eof":
            raise self.error("unexpected token")
        return node

    def expression(self) -> Node:
        node = self.or_expr()
        while self.at("|>"):
            tok = self.advance()
            node = Pipe(tok.pos, node, self.or_expr())
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.at("||"):
            tok = self.advance()
            node = Binary(tok.pos, "||", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.comparison()
        while self.at("&&"):
            tok = self.advance()
            node = Binary(tok.pos, "&&", node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.concat()
        while self.at(*_COMPARISON):
            tok = self.advance()
            node = Binary(tok.pos, tok.value, node, self.concat())
        return node

    def concat(self) -> Node:
        node = self.additive()
        while self.at("&"):
            tok = self.advance()
            node = Binary(tok.pos, "&", node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            tok = self.advance()
            node = Binary(tok.pos, tok.value, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/"):
            tok = self.advance()
            node = Binary(tok.pos, tok.value, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("!", "-"):
            tok = self.advance()
            operand = self.unary()
            if tok.value == "-" and isinstance(operand, Literal) and isinstance(operand.value, (int, float)):
                return Literal(tok.pos, -operand.value)
            return Unary(tok.pos, tok.value, operand)
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.at("."):
                self.advance()
                tok = self.tok
                if tok.kind == "name":
                    self.advance()
                    node = Attr(tok.pos, node, tok.value)
                elif tok.kind == "number" and isinstance(tok.value, int):
                    self.advance()
                    node = Attr(tok.pos, node, str(tok.value))
                else:
                    raise self.error("expected a key after '.'")
            elif self.at("["):
                tok = self.advance()
                index = self.expression()
                self.expect("]")
                node = Index(tok.pos, node, index)
            else:
                return node

    def arguments(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.expression())
            while self.at(","):
                self.advance()
                args.append(self.expression())
        self.expect(")")
        return args

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.advance()
            return Literal(tok.pos, tok.value)
        if tok.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(tok)
            if tok.value in _CONSTANTS:
                return Literal(tok.pos, _CONSTANTS[tok.value])
            return Name(tok.pos, tok.value)
        if self.at("("):
            self.advance()
            node = self.expression()
            self.expect(")")
            return node
        if self.at("%"):
            self.advance()
            return Name(tok.pos, "%")
        if self.at("["):
            self.advance()
            items: list[Node] = []
            if not self.at("]"):
                items.append(self.expression())
                while self.at(","):
                    self.advance()
                    items.append(self.expression())
            self.expect("]")
            return ArrayLit(tok.pos, items)
        if self.at("{"):
            self.advance()
            pairs: list[tuple[Node, Node]] = []
            while not self.at("}"):
                key_tok = self.tok
                if key_tok.kind in ("string", "name"):
                    self.advance()
                    key: Node = Literal(key_tok.pos, key_tok.value)
                else:
                    raise self.error("expected an object key")
                self.expect(":")
                pairs.append((key, self.expression()))
                if not self.at(","):
                    break
                self.advance()
            self.expect("}")
            return ObjectLit(tok.pos, pairs)
        raise self.error("expected a value")

    def call(self, name_tok: Token) -> Node:
        name = name_tok.value
        if name == "LAMBDA":
            args = self.arguments()
            if not args:
                raise _error(self.source, name_tok.pos, "LAMBDA needs a body")
            params = []
            for arg in args[:-1]:
                if not isinstance(arg, Name):
                    raise _error(self.source, arg.pos, "LAMBDA parameters must be names")
                params.append(arg.name)
            return LambdaNode(name_tok.pos, params, args[-1])
        func = FUNCTIONS.get(name)
        if func is None:
            raise _error(self.source, name_tok.pos, f"unknown function {name}")
        return Call(name_tok.pos, name, func, self.arguments())


@lru_cache(maxsize=4096)
def parse(source: str) -> Node:
    """Parse a formula expression (without ``=`` or ``<< >>``) into an evaluable tree."""
    if not source.strip():
        raise _error(source, 0, "empty formula")
    try:
        return _Parser(source).parse()
    except RecursionError:
        raise _error(source, 0, "the formula nests too deeply") from None


def evaluate(source: str, names: Mapping[str, Any], scope: Scope) -> Any:
    """Evaluate one expression against ``names`` (event plus reserved roots)."""
    tree = parse(source)
    try:
        return tree.evaluate(Context(names, scope, source=source))
    except RecursionError:
        raise _error(source, 0, "the formula or its data nests too deeply") from None


# --------------------------------------------------------------------------- pills


def split_pills(text: str) -> list[str | tuple[str, int]]:
    """Split text into literal parts and ``(expression, offset)`` pills.

    ``>>`` inside a quoted string in the expression does not close the pill. Text with an
    unclosed ``<<`` is literal.
    """
    parts: list[str | tuple[str, int]] = []
    pos = 0
    while True:
        start = text.find("<<", pos)
        if start < 0:
            break
        i = start + 2
        quote: str | None = None
        end = -1
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\":
                    i += 2
                    continue
                if c == quote:
                    quote = None
            elif c in ("'", '"'):
                quote = c
            elif text.startswith(">>", i):
                end = i
                break
            i += 1
        if end < 0:
            break
        if start > pos:
            parts.append(text[pos:start])
        parts.append((text[start + 2 : end], start + 2))
        pos = end + 2
    if pos < len(text):
        parts.append(text[pos:])
    return parts

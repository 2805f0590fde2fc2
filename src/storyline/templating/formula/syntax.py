"""The formula language's syntax: tokens, a recursive-descent parser, and ``<<pills>>`` in text.

A parse is cached per source text (the tree is immutable); evaluating it is cheap.
Function names are resolved here, against :data:`~.functions.FUNCTIONS`, so an unknown
function is a syntax error naming its position.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .evaluator import (
    ArrayLit,
    Attr,
    Binary,
    Call,
    FormulaError,
    Index,
    LambdaNode,
    Literal,
    Name,
    Node,
    ObjectLit,
    Pipe,
    Unary,
)
from .functions import FUNCTIONS, LAZY

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
            raise FormulaError(source, pos, f"unexpected character {source[pos]!r}")
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
        return FormulaError(self.source, tok.pos, f"{message}, found {found}")

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
                raise FormulaError(self.source, name_tok.pos, "LAMBDA needs a body")
            params = []
            for arg in args[:-1]:
                if not isinstance(arg, Name):
                    raise FormulaError(self.source, arg.pos, "LAMBDA parameters must be names")
                params.append(arg.name)
            return LambdaNode(name_tok.pos, params, args[-1])
        func = FUNCTIONS.get(name)
        if func is None:
            raise FormulaError(self.source, name_tok.pos, f"unknown function {name}")
        return Call(name_tok.pos, name, func, self.arguments(), lazy=name in LAZY)


@lru_cache(maxsize=4096)
def parse(source: str) -> Node:
    """Parse a formula expression (without ``=`` or ``<< >>``) into an evaluable tree."""
    if not source.strip():
        raise FormulaError(source, 0, "empty formula")
    try:
        return _Parser(source).parse()
    except RecursionError:
        raise FormulaError(source, 0, "the formula nests too deeply") from None


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

"""The formula language's evaluator: the tree a formula parses into, and what each node means.

The language is JSON-typed. Truthiness is Ruby's (:func:`~storyline.templating.values.truthy`):
only ``FALSE`` and ``NULL`` are false. A missing path is ``NULL``, never an error; ``=`` is
typed equality; ``&`` joins as text; arithmetic needs numbers (numeric text counts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from liquid.exceptions import LiquidError

from ..base import DATA_ERRORS, Scope, TemplateError
from ..roots import StoryRef
from ..values import to_json, to_text, truthy


class FormulaError(TemplateError):
    """A formula that does not parse or evaluate; ``position`` is 0-based in the expression."""

    def __init__(self, source: str, position: int, detail: str) -> None:
        super().__init__(f"formula error at position {position + 1}: {detail} in {source!r}")
        self.source = source
        self.position = position
        self.detail = detail


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
    if isinstance(obj, StoryRef) and isinstance(key, str):
        return obj[key]  # extends the story's path
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
        number = as_number(value, ctx, self.pos, "-")
        return -number


def as_number(value: Any, ctx: Context, pos: int, op: str) -> int | float:
    """An operand as a number (numeric text too); anything else fails naming the operator."""
    if isinstance(value, bool) or value is None:
        raise FormulaError(ctx.source, pos, f"'{op}' needs numbers, found {to_json(value)}")
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
    raise FormulaError(ctx.source, pos, f"'{op}' needs numbers, found {to_json(value)}")


def equal(a: Any, b: Any) -> bool:
    """The formula language's ``=``: typed, so ``TRUE`` is not ``1`` (unlike a rule's loose equality)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("=", "=="):
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
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
        a = as_number(left, ctx, self.pos, op)
        b = as_number(right, ctx, self.pos, op)
        if op == "/" and b == 0:
            raise FormulaError(ctx.source, self.pos, "division by zero")
        try:
            return _arithmetic(op, a, b)
        except OverflowError:
            raise FormulaError(ctx.source, self.pos, f"'{op}': the result is too large for a number") from None


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
    """A function call; a ``lazy`` function (``IF``, ``AND``, ``OR``) gets its argument nodes unevaluated."""

    __slots__ = ("args", "func", "lazy", "name")

    def __init__(self, pos: int, name: str, func: Callable[..., Any], args: list[Node], *, lazy: bool) -> None:
        super().__init__(pos)
        self.name = name
        self.func = func
        self.args = args
        self.lazy = lazy

    def evaluate(self, ctx: Context) -> Any:
        try:
            if self.lazy:
                return self.func(ctx, self.args)
            return self.func(ctx, *[a.evaluate(ctx) for a in self.args])
        except TemplateError:
            raise
        except LiquidError as err:
            raise FormulaError(ctx.source, self.pos, f"{self.name}: {err.message}") from None
        except DATA_ERRORS as err:
            raise FormulaError(ctx.source, self.pos, f"{self.name}: {err}") from None

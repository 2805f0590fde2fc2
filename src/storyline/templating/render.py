"""Rendering action options: the engine's single entry point into templating.

``render_value`` is on the hot path (every option of every action run), so:

* strings with no ``{{``, ``{%``, ``<<`` and no leading ``=`` are returned untouched;
* each distinct template source is rewritten and parsed once (``lru_cache``), including
  templates that fail to parse, whose error is cached too;
* the reserved roots are created once per ``render_value`` call and reach the scope
  lazily, so a credential is fetched only when a template names it, and once per call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from io import StringIO
from typing import Any

from liquid import Environment, RenderContext
from liquid.builtin.expressions import FilteredExpression
from liquid.builtin.output import OutputNode
from liquid.exceptions import FilterError, LiquidError
from liquid.expression import Expression
from liquid.template import BoundTemplate
from liquid.token import Token

from . import filters, security, tags
from . import formula as formula_module
from .base import DATA_ERRORS, Scope, TemplateError
from .preprocess import MARKUP, SPREAD_KEY, rewrite
from .roots import Names, make_roots
from .values import to_json_value, to_text, whole_formula


class TinesEnvironment(Environment):
    """python-liquid configured for Tines' dialect.

    ``shorthand_indexes`` accepts ``items.0.name`` as well as ``items[0].name``. Missing
    variables use the default lenient ``Undefined`` (render as nothing), as in Tines.
    Unknown filters raise, so a filter we lack is reported rather than silently dropped.
    The limits stop a runaway template (a huge range loop) from stalling a worker.
    """

    shorthand_indexes = True
    loop_iteration_limit = 1_000_000
    output_stream_limit = 64 * 1024 * 1024


class Spread(list[Any]):
    """The values of ``path[*]``: later path steps apply to every element."""

    __slots__ = ()


class TinesContext(RenderContext):
    """Render context adding ``[*]`` (spread over an array) to path lookups.

    ``get_item`` is python-liquid's documented hook for customising path steps.
    """

    __slots__ = ()

    def get_item(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, Spread):
            out = Spread()
            for item in obj:
                try:
                    out.append(super().get_item(item, key))
                except (KeyError, IndexError, TypeError):
                    continue
            return out
        if key == SPREAD_KEY and isinstance(obj, (list, tuple)):
            return Spread(obj)
        return super().get_item(obj, key)

    def filter(self, name: str, token: Token | None) -> Callable[..., object]:
        """The filter, failing as a Liquid error at its position when the value it is given
        is one it cannot handle (python-liquid's ``compact`` on a key some items lack, a decimal
        error in ``modulo``): the value comes from an event, the template is not at fault."""
        func = super().filter(name, token)

        def guarded(*args: Any, **kwargs: Any) -> object:
            try:
                return func(*args, **kwargs)
            except (LiquidError, TemplateError):
                raise
            except DATA_ERRORS as err:
                raise FilterError(f"{name}: {type(err).__name__}: {err}", token=token) from None

        return guarded


def _make_environment() -> TinesEnvironment:
    env = TinesEnvironment(strict_filters=False)
    tags.register(env)
    filters.register(env)
    security.register(env)
    return env


ENV = _make_environment()


def describe(err: LiquidError, *, prefix: str = "Liquid error") -> str:
    """One-line message naming the problem, line and column (1-based)."""
    message = err.message if err.args else err.__class__.__name__
    location = err.context()
    if location is None:
        return f"{prefix}: {message}"
    line, col, _prev, current, _next = location
    snippet = current.strip()
    if len(snippet) > 80:
        snippet = snippet[:77] + "..."
    return f"{prefix}: {message} (line {line}, column {col + 1}: {snippet!r})"


@dataclass(frozen=True, slots=True)
class _Liquid:
    template: BoundTemplate
    object_expr: Expression | None
    """Set when the template's only output is ``{{ expr | ... as_object ... }}``."""
    object_index: int = -1
    """Position of that output among the template's nodes; the nodes before it (assigns,
    whitespace) run first so the expression sees their variables."""


def _whole_object_expression(template: BoundTemplate) -> tuple[Expression | None, int]:
    found: tuple[Expression, int] | None = None
    for i, node in enumerate(template.nodes):
        if isinstance(node, OutputNode):
            if found is not None:
                return None, -1
            expr = node.expression
            if not (
                isinstance(expr, FilteredExpression)
                and expr.filters
                and any(f.name == "as_object" for f in expr.filters)
            ):
                return None, -1
            found = (expr, i)
        elif not node.blank:
            # Text or a tag that prints something: the result is text, not an object.
            return None, -1
    return found if found is not None else (None, -1)


_BLOCK_ENDS = {
    "if": "endif",
    "unless": "endunless",
    "for": "endfor",
    "case": "endcase",
    "capture": "endcapture",
    "tablerow": "endtablerow",
}
_INNER_TAGS = frozenset({"else", "elsif", "when", "break", "continue", *_BLOCK_ENDS.values()})


def _locate(text: str, source: str) -> str:
    """For an error python-liquid reports without a position: find the first markup that
    fails to parse on its own and name its line."""
    for m in MARKUP.finditer(text):
        name = m.group("name")
        if name in _INNER_TAGS:
            continue
        snippet = m.group()
        if name in _BLOCK_ENDS:
            snippet += f"{{% {_BLOCK_ENDS[name]} %}}"
        try:
            ENV.from_string(snippet)
        except LiquidError:
            line = text.count("\n", 0, m.start()) + 1
            # Show the author's text when the rewrite kept offsets (it almost always does).
            shown = source[m.start() : m.end()] if len(source) == len(text) else m.group()
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            return f" (line {line}: {shown!r})"
    return ""


@lru_cache(maxsize=8192)
def _compile_liquid(source: str) -> _Liquid | TemplateError:
    text = rewrite(source, tags.WIDGET_TAG_NAMES)
    try:
        template = ENV.from_string(text)
    except LiquidError as err:
        message = describe(err, prefix="Liquid syntax error")
        if err.context() is None:
            message += _locate(text, source)
        return TemplateError(message)
    except RecursionError:
        return TemplateError("Liquid syntax error: tags nest too deeply")
    return _Liquid(template, *_whole_object_expression(template))


def compile_liquid(source: str) -> _Liquid:
    """Parse (once) a Liquid source in Tines' dialect; raises TemplateError on bad syntax."""
    compiled = _compile_liquid(source)
    if isinstance(compiled, TemplateError):
        raise TemplateError(str(compiled))
    return compiled


@lru_cache(maxsize=4096)
def _split_mixed(source: str) -> tuple[tuple[str | tuple[str, int], ...], bool]:
    parts = tuple(formula_module.split_pills(source))
    has_liquid = any(isinstance(p, str) and ("{{" in p or "{%" in p) for p in parts)
    return parts, has_liquid


class _Render:
    """State shared by every string rendered in one ``render_value`` call.

    ``assigns`` holds what ``{% assign %}`` and ``{% capture %}`` set; each template sees
    what the templates rendered before it set, as in Huginn's ``liquid_interpolatable``
    (one Liquid context for all of an action's options, in document order). ``formulas``
    is False for a story exported before Tines had formulas (``values.formulas_in``): its
    strings are Liquid and nothing else, a leading ``=`` and ``<<`` included.
    """

    __slots__ = ("_names", "assigns", "event", "formulas", "scope")

    def __init__(
        self, event: Mapping[str, Any], scope: Scope, assigns: dict[str, Any] | None = None, formulas: bool = True
    ) -> None:
        self.event = event
        self.scope = scope
        self.assigns = assigns if assigns is not None else {}
        self.formulas = formulas
        self._names: Names | None = None

    @property
    def names(self) -> Names:
        if self._names is None:
            roots = make_roots(self.scope)
            roots[tags.SCOPE_KEY] = self.scope
            self._names = Names(roots, self.event)
        return self._names

    # -- Liquid ------------------------------------------------------------------------

    def _context(self, template: BoundTemplate, extra: Mapping[str, Any] | None = None) -> RenderContext:
        names: Mapping[str, Any] = self.names
        if self.assigns:
            names = Names(self.assigns, names)
        if extra:
            names = Names(extra, names)
        return TinesContext(template, globals=names)

    def liquid(self, source: str, *, native: bool, extra: Mapping[str, Any] | None = None) -> Any:
        compiled = compile_liquid(source)
        ctx = self._context(compiled.template, extra)
        try:
            if native and compiled.object_expr is not None:
                sink = StringIO()
                for node in compiled.template.nodes[: compiled.object_index]:
                    node.render(ctx, sink)
                return to_json_value(compiled.object_expr.evaluate(ctx))
            buf = StringIO()
            compiled.template.render_with_context(ctx, buf)
            return buf.getvalue()
        except LiquidError as err:
            raise TemplateError(describe(err)) from None
        finally:
            self.assigns.update(ctx.locals)

    # -- formulas ----------------------------------------------------------------------

    def formula(self, expression: str, offset: int) -> Any:
        try:
            return formula_module.evaluate(expression, self.names, self.scope)
        except formula_module.FormulaError as err:
            where = offset + err.position + 1
            raise TemplateError(
                f"formula error at character {where}: {err.detail} in pill <<{expression}>>"
            ) from None

    def pills(self, source: str) -> str:
        """Text with ``<<pills>>``; when it has Liquid too, each pill becomes a placeholder
        variable (``_pill_N``: action keys never start with ``_``) so a pill's value is
        never itself parsed as Liquid."""
        parts, has_liquid = _split_mixed(source)
        if has_liquid:
            placeholders: list[str] = []
            values: list[Any] = []
            for part in parts:
                if isinstance(part, str):
                    placeholders.append(part)
                else:
                    values.append(self.formula(*part))
                    placeholders.append(f"{{{{ _pill_{len(values) - 1} }}}}")
            extra = {f"_pill_{i}": v for i, v in enumerate(values)}
            return self.liquid("".join(placeholders), native=False, extra=extra)
        return "".join(p if isinstance(p, str) else to_text(self.formula(*p)) for p in parts)

    # -- dispatch ----------------------------------------------------------------------

    def string(self, value: str, *, native: bool) -> Any:
        try:
            return self._string(value, native=native)
        except RecursionError:
            raise TemplateError("the template or the event data it reads nests too deeply to render") from None

    def _string(self, value: str, *, native: bool) -> Any:
        if "{{" not in value and "{%" not in value and "<<" not in value and value[:1] != "=":
            return value
        expression = whole_formula(value) if self.formulas else None
        if expression is not None:
            try:
                result = formula_module.evaluate(expression, self.names, self.scope)
            except formula_module.FormulaError as err:
                raise TemplateError(
                    f"formula error at character {err.position + 2}: {err.detail} in {value!r}"
                ) from None
            return to_json_value(result) if native else to_text(result)
        if self.formulas and "<<" in value and ">>" in value:
            return self.pills(value)
        if "{{" not in value and "{%" not in value:
            return value
        return self.liquid(value, native=native)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.string(value, native=True)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                try:
                    out[self.string(k, native=False) if isinstance(k, str) else k] = self.value(v)
                except TemplateError as err:
                    err.path = (k, *err.path)
                    raise
            return out
        if isinstance(value, list):
            items: list[Any] = []
            for i, v in enumerate(value):
                try:
                    items.append(self.value(v))
                except TemplateError as err:
                    err.path = (i, *err.path)
                    raise
            return items
        return value


def render_value(
    value: Any, event: Mapping[str, Any], scope: Scope, assigns: dict[str, Any] | None = None,
    *, formulas: bool = True,
) -> Any:
    """Render an action option: every string inside dicts (keys too) and lists, in order.

    Strings become strings, except a whole-value ``{{ ... | as_object }}`` or ``=formula``,
    which yield the native JSON value (object, array, number, boolean, null). Other JSON
    types pass through. Raises :class:`TemplateError` for a template that does not parse
    or fails to render; errors raised by ``scope`` propagate unchanged. ``assigns`` (the
    variables Liquid assigned so far) is read and added to, so the options of one action
    run share one Liquid state. ``formulas=False`` (a story exported before Tines had
    formulas) renders every string as Liquid only.
    """
    return _Render(event, scope, assigns, formulas).value(value)


_DEFINES = re.compile(r"\{%-?\s*(?:assign|capture)\b")


def defines_variables(value: Any) -> bool:
    """Whether any string in ``value`` holds a tag that sets a Liquid variable."""
    if isinstance(value, str):
        return "{%" in value and _DEFINES.search(value) is not None
    if isinstance(value, dict):
        return any(defines_variables(k) or defines_variables(v) for k, v in value.items())
    if isinstance(value, list):
        return any(defines_variables(v) for v in value)
    return False


def share_assigns(
    options: Mapping[str, Any], event: Mapping[str, Any], scope: Scope, assigns: dict[str, Any],
    *, formulas: bool = True,
) -> None:
    """Run, in document order, the options that set Liquid variables, keeping what they set.

    An action reads its options in its own order (an HTTP request reads ``url`` before
    ``payload``), but Tines, like Huginn, renders them in one Liquid context in document
    order: a ``placeholders`` option's captures are read by ``payload``. A failure here is
    left for the option's own render to report, with its name.
    """
    for value in options.values():
        if defines_variables(value):
            try:
                render_value(value, event, scope, assigns, formulas=formulas)
            except TemplateError:
                continue


def render_text(source: str, event: Mapping[str, Any], scope: Scope, *, formulas: bool = True) -> str:
    """Render a template to text (webhook responses): objects print as JSON, never natively."""
    return to_text(_Render(event, scope, formulas=formulas).string(source, native=False))

"""Tines' custom Liquid tags ("widgets") and the JSON-printing output statement.

Each tag takes its argument as raw text (``{% story STS HIBP Check %}`` has spaces,
``{% global_resource imap.example.com %}`` has dots), so none of them go through
Liquid's expression parser. Tags reach the runtime through the :class:`Scope` stored in
the render context under :data:`SCOPE_KEY`.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any, TextIO

from liquid import Environment, Node, RenderContext, Tag, TokenStream
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.exceptions import LiquidSyntaxError
from liquid.token import TOKEN_EXPRESSION, TOKEN_TAG

from .values import to_text

if TYPE_CHECKING:
    from liquid.token import Token

    from .base import Scope

class _ScopeKey:
    """The type of :data:`SCOPE_KEY`: not a string, so no template path can name it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SCOPE_KEY"


SCOPE_KEY: Any = _ScopeKey()
"""The render-context key holding the Scope. A string key (even ``"\x00scope"``) could be spelled by a
template, or by event data used as a key (``{{ [hook.body.k] }}``), and print the scope with its credentials."""

_RANDOM_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*$")


def scope_of(context: RenderContext) -> Scope:
    """The runtime scope of the render in progress."""
    return context.resolve(SCOPE_KEY)


class TinesOutputNode(OutputNode):
    """``{{ expr }}`` that prints objects and arrays as JSON, as Tines does."""

    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(to_text(self.expression.evaluate(context)))


class TinesOutput(Output):
    node_class = TinesOutputNode


class TinesEchoNode(EchoNode):
    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(to_text(self.expression.evaluate(context)))


class TinesEchoTag(EchoTag):
    node_class = TinesEchoNode


class WidgetNode(Node):
    """A custom tag instance: its raw argument and the function that renders it."""

    __slots__ = ("arg", "func")

    def __init__(self, token: Token, arg: str, func: Any) -> None:
        super().__init__(token)
        self.arg = arg
        self.func = func
        self.blank = False

    def __str__(self) -> str:
        return f"{{% {self.token.value} {self.arg} %}}"

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(self.func(scope_of(context), self.arg))


class WidgetTag(Tag):
    """Base for Tines' one-line tags; subclasses set ``name``, ``needs_arg`` and ``render``."""

    block = False
    needs_arg = True

    def parse(self, stream: TokenStream) -> Node:
        token = stream.expect(TOKEN_TAG)
        arg = ""
        if stream.peek.kind == TOKEN_EXPRESSION:
            next(stream)
            arg = stream.current.value.strip()
        if self.needs_arg and not arg:
            raise LiquidSyntaxError(f"'{self.name}' needs an argument", token=token)
        self.check(arg, token)
        return WidgetNode(token, arg, type(self).render)

    def check(self, arg: str, token: Token) -> None:
        """Validate the argument at parse time, so bad templates fail at import."""

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        raise NotImplementedError


class CredentialTag(WidgetTag):
    name = "credential"

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        return to_text(scope.credential(arg))


class GlobalResourceTag(WidgetTag):
    name = "global_resource"

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        return to_text(scope.resource(arg))


class LineBreakTag(WidgetTag):
    name = "line_break"
    needs_arg = False

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        return "\n"


class StoryRunGuidTag(WidgetTag):
    name = "story_run_guid"
    needs_arg = False

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        return to_text(scope.story_run)


class StoryRunLinkTag(WidgetTag):
    """``{% story_run_link %}``: optional on the scope (``story_run_link()``), else empty."""

    name = "story_run_link"
    needs_arg = False

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        link = getattr(scope, "story_run_link", None)
        return to_text(link()) if callable(link) else ""


class PromptTag(WidgetTag):
    name = "prompt"

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        return to_text(scope.prompt_url(arg))


class RandomTag(WidgetTag):
    """``{% random N %}`` gives 0 <= x < N (Ruby's ``rand(N)``); ``{% random A-B %}`` gives A..B."""

    name = "random"

    def check(self, arg: str, token: Token) -> None:
        if not _RANDOM_RANGE.match(arg):
            raise LiquidSyntaxError(f"'random' expects N or A-B, found {arg!r}", token=token)

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        m = _RANDOM_RANGE.match(arg)
        assert m is not None
        low, high = m.group(1), m.group(2)
        if high is None:
            n = int(low)
            return str(random.randrange(n)) if n > 0 else "0"
        a, b = sorted((int(low), int(high)))
        return str(random.randint(a, b))


class StoryTag(WidgetTag):
    """``{% story Some Name %}`` names a sub-story; renders the name for Send to Story."""

    name = "story"

    @staticmethod
    def render(scope: Scope, arg: str) -> str:
        return arg


WIDGET_TAGS: tuple[type[WidgetTag], ...] = (
    CredentialTag,
    GlobalResourceTag,
    LineBreakTag,
    StoryRunGuidTag,
    StoryRunLinkTag,
    PromptTag,
    RandomTag,
    StoryTag,
)

WIDGET_TAG_NAMES = frozenset(t.name for t in WIDGET_TAGS)


def register(env: Environment) -> None:
    """Add the widgets and the JSON-printing output statement to ``env``."""
    env.add_tag(TinesOutput)
    env.add_tag(TinesEchoTag)
    for tag in WIDGET_TAGS:
        env.add_tag(tag)

"""The JSONPath subset Tines stories use with the ``jsonpath`` filter.

Supported: ``$`` root, ``.key``, ``['key']`` / ``["key"]``, ``[n]`` (negative allowed),
``[*]`` and ``.*`` wildcards, ``..key`` / ``..*`` recursive descent. A path that does not
start with ``$`` is taken relative to the root (real exports write ``'*.filename'``).
The result is always a list of matches, like Ruby's ``JsonPath.on``.

A path runs over a sender's data, inside the database writer for a pure transform, so it
takes time linear in what it visits, and a path that selects more than ``MAX_SELECTED``
values at any step (``$..*..*`` over a deep body multiplies) fails with a TemplateError
instead of running for hours.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from .base import TemplateError

_TOKEN = re.compile(
    r"""
    (?P<recurse>\.\.)
  | (?P<dot>\.)
  | \[\s*(?P<index>-?\d+)\s*\]
  | \[\s*\*\s*\]                                  (?# wildcard in brackets)
  | \[\s*'(?P<sq>[^']*)'\s*\]
  | \[\s*"(?P<dq>[^"]*)"\s*\]
  | (?P<star>\*)
  | (?P<name>[^.\[\]*]+)
    """,
    re.VERBOSE,
)

MAX_SELECTED = 2_000_000
"""More values than a 2 MiB body holds (about a million), so only a multiplying path reaches it."""

# Steps: ("key", name) | ("index", n) | ("wild", None) | ("recurse", step)
Step = tuple[str, Any]


def compile_path(path: str) -> tuple[Step, ...]:
    """Parse ``path`` once; the filter is called per event with the same literal path.

    A path may also come from an event: only short ones are cached.
    """
    return _compile_path(path) if len(path) <= 256 else _compile_path.__wrapped__(path)


@lru_cache(maxsize=512)
def _compile_path(path: str) -> tuple[Step, ...]:
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    pos = 0
    pending_recurse = False
    expect_name = False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise TemplateError(f"jsonpath: cannot parse {path!r} at position {pos}")
        pos = m.end()
        kind = m.lastgroup
        step: Step | None
        if kind == "recurse":
            pending_recurse = True
            expect_name = True
            continue
        if kind == "dot":
            expect_name = True
            continue
        if kind == "index":
            step = ("index", int(m.group("index")))
        elif kind in ("sq", "dq"):
            step = ("key", m.group(kind))
        elif kind == "star" or kind is None:
            step = ("wild", None)
        else:
            step = ("key", m.group("name").strip())
        expect_name = False
        if pending_recurse:
            step = ("recurse", step)
            pending_recurse = False
        steps.append(step)
    if pending_recurse or (expect_name and steps):
        raise TemplateError(f"jsonpath: {path!r} ends with a dot")
    return tuple(steps)


def _children(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return list(node.values())
    if isinstance(node, Sequence) and not isinstance(node, str):
        return list(node)
    return []


def _apply(step: Step, node: Any, out: list[Any]) -> None:
    kind, arg = step
    if kind == "key":
        if isinstance(node, Mapping):
            if arg in node:
                out.append(node[arg])
        elif isinstance(node, Sequence) and not isinstance(node, str) and arg.lstrip("-").isdigit():
            _apply(("index", int(arg)), node, out)
    elif kind == "index":
        if isinstance(node, Sequence) and not isinstance(node, str):
            with contextlib.suppress(IndexError):
                out.append(node[arg])
    elif kind == "wild":
        out.extend(_children(node))
    elif kind == "recurse":
        # Depth first in document order; the next node is taken from the end of the stack, since
        # taking it from the front moves the whole stack each time: minutes on a list of a million.
        stack = [node]
        while stack:
            current = stack.pop()
            _apply(arg, current, out)
            if len(out) > MAX_SELECTED:
                return
            stack.extend(reversed(_children(current)))


def query(data: Any, path: str) -> list[Any]:
    """Return every value in ``data`` that ``path`` selects, in document order."""
    nodes = [data]
    for step in compile_path(path):
        nxt: list[Any] = []
        for node in nodes:
            _apply(step, node, nxt)
            if len(nxt) > MAX_SELECTED:
                raise TemplateError(f"jsonpath: {path[:100]!r} selects more than {MAX_SELECTED} values; "
                                    "use a path without repeated '..' steps")
        nodes = nxt
    return nodes

"""An event's payload as a tree a person can fold, each value labelled with the template path that reaches it.

Clicking a value on ``/runs/{guid}`` copies its path (``{{.search_virustotal.body.data}}``), the way a
story author writes it in the next action's options. The tree is bounded (nodes, depth, characters of
a string) so one huge event cannot make a page slow; what is left out is counted and said.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_NODES = 2000
MAX_DEPTH = 40
MAX_TEXT = 2000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Node:
    label: str
    """The key, or ``[index]`` in a list; empty for the root."""
    path: str
    """The template path, ``{{.key.list[0]}}``."""
    kind: str
    """``object``, ``array``, ``string``, ``number``, ``boolean`` or ``null``."""
    text: str = ""
    """A scalar as shown (a string without quotes, cut at :data:`MAX_TEXT`)."""
    children: tuple[Node, ...] = ()
    left_out: int = 0
    """Children (or characters of a string) not shown."""

    @property
    def branch(self) -> bool:
        return self.kind in ("object", "array")


def step(path: str, key: str | int) -> str:
    """``path`` one key or index further, as a Liquid path writes it (``.name`` or ``["odd key"]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _NAME.match(key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def template_path(path: str) -> str:
    return "{{" + (path or ".") + "}}"


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES


def tree(value: Any, label: str = "", path: str = "") -> Node:
    """The node for ``value`` reached at ``path`` (the root: the empty path)."""
    return _node(value, label, path, 0, _Budget())


def _node(value: Any, label: str, path: str, depth: int, budget: _Budget) -> Node:
    budget.left -= 1
    shown = template_path(path)
    if isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        kind = "object" if isinstance(value, dict) else "array"
        children = []
        for key, item in items:
            if budget.left <= 0 or depth >= MAX_DEPTH:
                break
            child_label = f"[{key}]" if isinstance(key, int) else str(key)
            children.append(_node(item, child_label, step(path, key if isinstance(key, int) else str(key)),
                                  depth + 1, budget))
        return Node(label, shown, kind, children=tuple(children), left_out=len(items) - len(children))
    if isinstance(value, str):
        return Node(label, shown, "string", value[:MAX_TEXT], left_out=max(0, len(value) - MAX_TEXT))
    if isinstance(value, bool):
        return Node(label, shown, "boolean", "true" if value else "false")
    if value is None:
        return Node(label, shown, "null", "null")
    return Node(label, shown, "number", str(value)[:MAX_TEXT])

"""A storyboard as SVG geometry: boxes for actions, arrows for links, boxes for the export's notes.

Actions stand where the export's ``diagram_layout`` put them (Tines' storyboard: the top left
corner of each action, in pixels); an export without one (the older ones) is laid out in
layers, each action below the actions it receives from. The template draws the geometry;
nothing here is markup, so every name and note reaches the page through autoescaping.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from storyline.operations.storyboard import Board, BoardAction

WIDTH, HEIGHT = 220.0, 58.0
"""An action's box: Tines places actions 240 px apart across and 75 px apart down."""
GAP_X, GAP_Y = 40.0, 60.0
"""Between boxes of a layered layout."""
NOTE_WIDTH, NOTE_LINE, NOTE_CHARS, NOTE_LINES = 260.0, 15.0, 38, 14
MARGIN = 30.0
NAME_CHARS = 30


@dataclass(frozen=True)
class Node:
    action: BoardAction
    x: float
    y: float

    @property
    def label(self) -> str:
        """The name as the box shows it (the whole name is in its title)."""
        name = self.action.name
        return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "\u2026"

    @property
    def kind(self) -> str:
        return type_label(self.action.type)


@dataclass(frozen=True)
class Edge:
    source: int
    receiver: int
    path: str
    """An SVG path from the source's bottom to the receiver's top (the arrowhead is the path's marker)."""


@dataclass(frozen=True)
class Note:
    x: float
    y: float
    height: float
    lines: list[str]
    text: str


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    notes: list[Note]
    view: tuple[float, float, float, float]
    """The SVG's viewBox: x, y, width, height."""
    laid_out: str
    """"export" (the export's diagram_layout) or "layered" (drawn here)."""
    width: float = WIDTH
    height: float = HEIGHT


def type_label(type_: str) -> str:
    """``Agents::HTTPRequestAgent`` -> ``HTTP Request``."""
    short = type_.removeprefix("Agents::").removesuffix("Agent") or type_
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", short)


def draw(board: Board) -> Graph:
    placed = [board.layout.get(action.guid) for action in board.actions]
    if board.actions and all(point is not None for point in placed):
        points = [point for point in placed if point is not None]
        laid_out = "export"
    else:
        points = layered(len(board.actions), board.links)
        laid_out = "layered"
        if any(point is not None for point in placed):  # some positioned: keep them, the rest below them
            below = max(point[1] for point in placed if point is not None) + HEIGHT + GAP_Y
            points = [point if point is not None else (x, y + below)
                      for point, (x, y) in zip(placed, points, strict=True)]
            laid_out = "export"
    nodes = [Node(action, x, y) for action, (x, y) in zip(board.actions, points, strict=True)]
    edges = [Edge(source, receiver, _arrow(nodes[source], nodes[receiver])) for source, receiver in board.links]
    notes = _notes(board, nodes)
    xs = [n.x for n in nodes] + [n.x for n in notes]
    ys = [n.y for n in nodes] + [n.y for n in notes]
    right = [n.x + WIDTH for n in nodes] + [n.x + NOTE_WIDTH for n in notes]
    bottom = [n.y + HEIGHT for n in nodes] + [n.y + n.height for n in notes]
    if not xs:
        return Graph([], [], [], (0.0, 0.0, WIDTH, HEIGHT), laid_out)
    left, top = min(xs) - MARGIN, min(ys) - MARGIN
    view = (left, top, max(right) + MARGIN - left, max(bottom) + MARGIN - top)
    return Graph(nodes, edges, notes, view, laid_out)


def layered(count: int, links: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """Positions for ``count`` actions: each a layer below the actions it receives from (loops broken where a
    depth-first walk meets them), ordered in its layer by where those actions stand."""
    receivers: dict[int, list[int]] = {}
    for source, receiver in links:
        receivers.setdefault(source, []).append(receiver)
    # Back edges (loops) are left out of the layering, found by a depth-first walk without recursion.
    state = [0] * count  # 0 unseen, 1 on the walk, 2 done
    forward: list[tuple[int, int]] = []
    for root in range(count):
        if state[root]:
            continue
        stack = [(root, iter(receivers.get(root, [])))]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state[step] == 1:
                continue  # a loop back to an action on the walk
            else:
                forward.append((node, step))
                if state[step] == 0:
                    state[step] = 1
                    stack.append((step, iter(receivers.get(step, []))))
    sources: dict[int, list[int]] = {}
    onward: dict[int, list[int]] = {}
    incoming = [0] * count
    for source, receiver in forward:
        sources.setdefault(receiver, []).append(source)
        onward.setdefault(source, []).append(receiver)
        incoming[receiver] += 1
    layer = [0] * count
    ready = [node for node in range(count) if incoming[node] == 0]
    while ready:  # longest path from the actions that receive from none
        node = ready.pop()
        for receiver in onward.get(node, []):
            layer[receiver] = max(layer[receiver], layer[node] + 1)
            incoming[receiver] -= 1
            if incoming[receiver] == 0:
                ready.append(receiver)
    rows: dict[int, list[int]] = {}
    for node in range(count):
        rows.setdefault(layer[node], []).append(node)
    column: dict[int, float] = {}
    widest = max((len(row) for row in rows.values()), default=0)
    points: dict[int, tuple[float, float]] = {}
    for depth in sorted(rows):
        row = sorted(rows[depth], key=lambda node: (
            sum(column[s] for s in sources.get(node, []) if s in column) / max(1, len(sources.get(node, [])))
            if sources.get(node) else node, node))
        offset = (widest - len(row)) * (WIDTH + GAP_X) / 2
        for index, node in enumerate(row):
            column[node] = float(index)
            points[node] = (offset + index * (WIDTH + GAP_X), depth * (HEIGHT + GAP_Y))
    return [points[node] for node in range(count)]


def _arrow(source: Node, receiver: Node) -> str:
    x1, y1 = source.x + WIDTH / 2, source.y + HEIGHT
    x2, y2 = receiver.x + WIDTH / 2, receiver.y
    bend = max(24.0, abs(y2 - y1) / 2)
    return f"M{x1:g},{y1:g} C{x1:g},{y1 + bend:g} {x2:g},{y2 - bend:g} {x2:g},{y2:g}"


def _notes(board: Board, nodes: list[Node]) -> list[Note]:
    found = []
    right = max((n.x + WIDTH for n in nodes), default=0.0) + GAP_X
    stacked = min((n.y for n in nodes), default=0.0)
    for text, at in board.notes:
        lines = [line for paragraph in text.splitlines()
                 for line in (textwrap.wrap(paragraph, NOTE_CHARS) or [""])]
        if len(lines) > NOTE_LINES:
            lines = [*lines[:NOTE_LINES - 1], "\u2026"]
        height = NOTE_LINE * len(lines) + 16
        if at is None:  # a note without a place goes to the right of the actions
            at = (right, stacked)
            stacked += height + GAP_Y / 2
        found.append(Note(at[0], at[1], height, lines, text))
    return found

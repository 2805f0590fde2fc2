"""The storyboard's geometry: the export's positions when it has them, layers when not, and hostile diagrams."""

from __future__ import annotations

import json

from storyline.operations.storyboard import Board, BoardAction, diagram_layout, diagram_notes
from storyline.web.console.graph import HEIGHT, WIDTH, draw, layered, type_label


def board(count: int, links: list[tuple[int, int]], layout: dict[str, tuple[float, float]] | None = None,
          notes: list[tuple[str, tuple[float, float] | None]] | None = None) -> Board:
    actions = [BoardAction(index + 1, f"g{index}", f"action {index}", "Agents::HTTPRequestAgent", False)
               for index in range(count)]
    return Board(1, "s", "", False, actions, links, layout or {}, notes or [])


def test_actions_stand_where_the_exports_diagram_layout_put_them() -> None:
    layout = diagram_layout(json.dumps({"g0": [105, -195], "g1": [345.0, -120]}))
    graph = draw(board(2, [(0, 1)], layout))
    assert graph.laid_out == "export"
    assert [(node.x, node.y) for node in graph.nodes] == [(105.0, -195.0), (345.0, -120.0)]
    left, top, width, height = graph.view
    assert left < 105 and top < -195 and left + width > 345 + WIDTH and top + height > -120 + HEIGHT
    assert graph.edges[0].path.startswith(f"M{105 + WIDTH / 2:g},{-195 + HEIGHT:g} ")


def test_without_a_diagram_each_action_is_a_layer_below_what_it_receives_from_even_in_a_loop() -> None:
    points = layered(4, [(0, 1), (1, 2), (2, 1), (0, 3), (3, 2)])
    depth = [y for _, y in points]
    assert depth[0] < depth[1] and depth[0] < depth[3] and depth[1] < depth[2] and depth[3] < depth[2]
    assert len(set(points)) == 4
    assert draw(board(3, [(0, 1)])).laid_out == "layered"


def test_a_hostile_diagram_is_no_position_and_notes_keep_their_text() -> None:
    assert diagram_layout("{not json") == {}
    assert diagram_layout({"g0": [1e300, 0], "g1": ["1", 2], "g2": [True, 1], "g3": [1, 2, 3], "g4": [3, 4]}) == {
        "g4": (3.0, 4.0)}
    notes = diagram_notes([{"content": "<script>x</script>", "position": [0, 0]}, {"content": 5}, "x",
                           {"content": "no place"}])
    assert notes == [("<script>x</script>", (0.0, 0.0)), ("no place", None)]
    graph = draw(board(1, [], notes=notes))
    assert [note.lines for note in graph.notes] == [["<script>x</script>"], ["no place"]]


def test_type_labels_read_as_tines_names_them() -> None:
    assert type_label("Agents::HTTPRequestAgent") == "HTTP Request"
    assert type_label("Agents::EventTransformationAgent") == "Event Transformation"
    assert type_label("Agents::IMAPAgent") == "IMAP"

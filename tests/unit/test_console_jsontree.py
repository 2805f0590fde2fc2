"""The run page's payload tree: every value's template path reaches that value, and a huge payload is cut short."""

from __future__ import annotations

from storyline.templating.render import render_text
from storyline.web.console.jsontree import MAX_NODES, MAX_TEXT, Node, tree
from tests.unit.test_liquid_grammar import StaticScope


def leaves(node: Node) -> list[Node]:
    return [node] if not node.branch else [leaf for child in node.children for leaf in leaves(child)]


def test_each_values_template_path_renders_that_value() -> None:
    event = {"search_virustotal": {"body": {"data": [{"odd key": "x", "n": 12}], "\"quoted\" key": True}}}
    shown = {leaf.path: leaf.text for leaf in leaves(tree(event))}
    assert shown["{{.search_virustotal.body.data[0].n}}"] == "12"
    for path, text in shown.items():
        assert render_text(path, event, StaticScope()) == text


def test_a_huge_payload_is_cut_short_and_says_how_much_was_left_out() -> None:
    node = tree({"many": list(range(MAX_NODES * 2)), "long": "x" * (MAX_TEXT + 5)})
    many = node.children[0]
    assert len(many.children) < MAX_NODES and many.left_out == MAX_NODES * 2 - len(many.children)
    assert node.left_out == 1  # the budget ran out before "long"
    assert tree("x" * (MAX_TEXT + 5)).left_out == 5

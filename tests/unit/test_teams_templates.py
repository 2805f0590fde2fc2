"""The ready-made Teams actions are valid Tines actions, and the console shows cards as a person would read them."""

from __future__ import annotations

import pytest

from storyline.actions import action_type
from storyline.chat.teams_console import describe
from storyline.chat.templates import TEMPLATES


@pytest.mark.parametrize("name", [n for n in TEMPLATES if n.startswith("teams_")])
def test_each_teams_template_is_a_valid_action(name: str) -> None:
    template = TEMPLATES[name]
    module = action_type(template["action"]["type"])
    assert module is not None and template["description"]
    assert module.validate(template["action"]["options"]) == []


def test_cards_are_shown_with_their_text_facts_and_buttons() -> None:
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {
        "type": "AdaptiveCard", "body": [
            {"type": "TextBlock", "text": "Verdict for example.com"},
            {"type": "Container", "items": [{"type": "FactSet", "facts": [{"title": "VT", "value": "3/90"}]}]}],
        "actions": [{"type": "Action.Submit", "title": "Block", "data": {"verb": "block"}},
                    {"type": "Action.OpenUrl", "title": "Open", "url": "https://example.com/x"}]}}
    assert describe({"text": "Done", "attachments": [card]}) == [
        "Done", "Verdict for example.com", "VT: 3/90",
        "  [Block] click: --value '{\"verb\":\"block\"}'", "  [Open] -> https://example.com/x"]

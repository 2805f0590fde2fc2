"""Ready-made actions for chatbot stories: ``storyline template list`` / ``show NAME``.

Replying in Slack or Teams is an ordinary HTTP Request (or Webhook) action; what is
hard to get right is the URL, the headers, the credential and the error handling.
Each template is one JSON file in ``templates/`` beside this module, named after the
template: ``{"description": ..., "action": {"type", "name", "options"}}``, the action
in Tines export form, which a user pastes into a story. Adding a file adds a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    action: dict[str, Any]


def templates() -> dict[str, Template]:
    """Every template by name, sorted."""
    found: dict[str, Template] = {}
    folder = resources.files(__package__).joinpath("templates")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            name = entry.name.removesuffix(".json")
            found[name] = Template(name, str(data["description"]), dict(data["action"]))
    return found


def template(name: str) -> Template:
    """The template called ``name``; KeyError names the ones there are."""
    known = templates()
    if name not in known:
        raise KeyError(f"no template {name!r}; `storyline template list` shows: {', '.join(known)}")
    return known[name]

"""``story import --as-new``: a copy of a story that can live beside the original.

A Tines story is identified by its guid, its actions by theirs, and a webhook by its
path (the action guid in exports without ``options.path``). A copy gets fresh guids for
all of them, so it never touches the original's runs, events or URLs. Guids are also
written inside the story (``diagram_layout`` is keyed by action guid, entry and exit
agents name them, a template may post to the story's own webhook), so every
occurrence is swapped: a guid is 32 random hex digits, which no other text matches.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from storyline.model import StoryDef
from storyline.urls import webhook_url


def _new_guid() -> str:
    return uuid.uuid4().hex


def copy_as_new(
    story: StoryDef, *, taken_names: set[str], taken_paths: set[str]
) -> tuple[StoryDef, list[str]]:
    """The copy and what changed that the user should know (name, webhook URLs).

    The name gets " (copy)", " (copy 2)", ... when ``taken_names`` has it. Webhooks with
    their own ``options.path`` keep it unless another story serves it (``taken_paths``);
    then they get a fresh path, with a warning naming it.
    """
    swaps = {story.guid: _new_guid(), **{action.guid: _new_guid() for action in story.actions}}
    pattern = re.compile("|".join(re.escape(guid) for guid in swaps))

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: swaps[m.group()], value)
        if isinstance(value, dict):
            return {swap(key): swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    new = copy.deepcopy(story)
    warnings: list[str] = []
    new.guid = swaps[story.guid]
    new.name = _free_name(story.name, taken_names)
    if new.name != story.name:
        warnings.append(f"story {story.name!r} exists; the copy is named {new.name!r}")
    new.entry_agent_guid = swap(story.entry_agent_guid)
    new.exit_agent_guids = swap(story.exit_agent_guids)
    new.extra = swap(story.extra)
    for action in new.actions:
        action.guid = swaps[action.guid]
        action.options = swap(action.options)
        action.extra = swap(action.extra)
        path = action.webhook_path
        if path is not None and path in taken_paths:
            action.options["path"] = _new_guid()
            warnings.append(
                f"webhook {action.name!r}: path {path!r} is served by another story; the copy's "
                f"webhook is at {webhook_url('', action.options['path'], action.webhook_secret)}"
            )
    return new, warnings


def _free_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    candidate = f"{name} (copy)"
    number = 2
    while candidate in taken:
        candidate = f"{name} (copy {number})"
        number += 1
    return candidate

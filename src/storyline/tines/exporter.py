"""Write a :class:`StoryDef` back as Tines export JSON that Tines (and storyline) can import.

Options, schedules and every kept key are written exactly as imported, so a story can
go Tines -> storyline -> Tines without losing its layout, notes, forms or keys we do
not understand. Keys come in the order Tines writes them, which keeps diffs between an
original export and ours small.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from storyline.model import DEFAULT_KEEP_EVENTS_FOR, ActionDef, StoryDef

# Tines places these kept keys between the header and the story-level sub-story keys;
# the rest of ``extra`` follows them in its own (imported) order.
_HEAD_EXTRA = ("standard_lib_version", "action_runtime_version")
_AFTER_GUID_EXTRA = ("slug",)
_BEFORE_LINKS_EXTRA = ("diagram_notes",)
_AFTER_LINKS_EXTRA = ("control_links", "diagram_layout")

#: Tines stopped writing the singular ``exit_agent_guid`` in schema 26.
_LAST_SCHEMA_WITH_SINGULAR_EXIT = 25
#: Story-level ``keep_events_for`` appeared in schema 6 (per-agent before).
_FIRST_SCHEMA_WITH_STORY_RETENTION = 6


def export_story(story: StoryDef, *, exported_at: datetime | None = None) -> dict[str, Any]:
    """The Tines export object for ``story`` (a fresh structure; the story is not shared).

    ``exported_at`` defaults to now; pass one for reproducible output. The singular
    ``exit_agent_guid`` is written for schema versions that had it, and the story-level
    ``keep_events_for`` when the schema has it or the value is not Tines' default, so
    the output has the keys its ``schema_version`` promises.
    """
    # A story imported without a version (Tines' first format) is exported without one: writing
    # a newer version would change what it means (webhooks nest their request from schema 3).
    schema_version = story.schema_version if story.schema_version is not None else 1
    stamp = (exported_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = copy.deepcopy(story.extra)

    out: dict[str, Any] = {} if story.schema_version is None else {"schema_version": schema_version}
    _take(out, extra, _HEAD_EXTRA)
    out["name"] = story.name
    out["description"] = story.description
    out["guid"] = story.guid
    _take(out, extra, _AFTER_GUID_EXTRA)
    out["exported_at"] = stamp
    out["agents"] = [_export_action(action) for action in story.actions]
    _take(out, extra, _BEFORE_LINKS_EXTRA)
    out["links"] = [{"source": source, "receiver": receiver} for source, receiver in story.links]
    _take(out, extra, _AFTER_LINKS_EXTRA)
    out["send_to_story_enabled"] = story.send_to_story_enabled
    out["entry_agent_guid"] = story.entry_agent_guid
    out["exit_agent_guids"] = list(story.exit_agent_guids)
    if schema_version <= _LAST_SCHEMA_WITH_SINGULAR_EXIT:
        out["exit_agent_guid"] = story.exit_agent_guids[0] if story.exit_agent_guids else None
    if (
        schema_version >= _FIRST_SCHEMA_WITH_STORY_RETENTION
        or story.keep_events_for != DEFAULT_KEEP_EVENTS_FOR
    ):
        out["keep_events_for"] = story.keep_events_for
    for key, value in extra.items():
        out.setdefault(key, value)
    return out


def export_json(story: StoryDef, *, exported_at: datetime | None = None) -> str:
    """:func:`export_story` as text, indented like Tines' own files, non-ASCII kept readable."""
    return json.dumps(export_story(story, exported_at=exported_at), indent=2, ensure_ascii=False) + "\n"


def _take(out: dict[str, Any], extra: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in extra:
            out[key] = extra.pop(key)


def _export_action(action: ActionDef) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": action.type,
        "name": action.name,
        "disabled": action.disabled,
        "guid": action.guid,
        "options": copy.deepcopy(action.options),
    }
    if action.schedule is not None or action.schedule_present:
        agent["schedule"] = copy.deepcopy(action.schedule)
    if action.keep_events_for is not None:
        agent["keep_events_for"] = action.keep_events_for
    for key, value in action.extra.items():
        agent.setdefault(key, copy.deepcopy(value))
    return agent

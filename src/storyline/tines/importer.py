"""Read a Tines story export into a :class:`StoryDef`, with errors a user can act on.

Every Tines schema version seen in the wild (1, 3, 4, 6, 18, 23, 26) is accepted: the
importer requires only ``agents`` and each agent's ``type`` and ``name``, defaults
every other known key, and keeps unknown keys verbatim for export. Problems that would
make the story wrong to run (a link to a missing action, a malformed option) are
collected and reported together, so one round of fixes is enough; things that are
merely surprising (an action type storyline cannot run, two actions with one name)
come back as warnings.

Duplicate action names: two actions may share a name, and so a key, in real stories
(10 of 45 files in the corpus). Both keep the Tines key: the story's templates
reference actions by that key (``{{.delay_event.x}}``), so renaming one (``_2``
suffix) would silently break references that work in Tines. Inside a run an event
carries only its own ancestors' outputs, and duplicates usually sit on different
branches, so the reference is normally unambiguous; the importer warns so the user
can rename them if it is not.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from storyline.model import DEFAULT_KEEP_EVENTS_FOR, ActionDef, StoryDef
from storyline.templating.check import template_problems
from storyline.templating.values import formulas_in
from storyline.tines.schedules import problems as schedule_problems

if TYPE_CHECKING:
    from storyline.actions.base import ActionType

#: Files larger than this are refused: the biggest real export seen is ~100 KB, and a
#: multi-megabyte "story" is far more likely a wrong file than a story.
MAX_FILE_BYTES = 5 * 1024 * 1024

#: The newest schema_version tested; newer ones import with a warning.
NEWEST_KNOWN_SCHEMA = 26

#: Tines action types; one without a storyline module is "cannot run yet", others "unknown".
TINES_TYPES = frozenset(
    {
        "Agents::WebhookAgent",
        "Agents::TriggerAgent",
        "Agents::EventTransformationAgent",
        "Agents::HTTPRequestAgent",
        "Agents::EmailAgent",
        "Agents::IMAPAgent",
        "Agents::SendToStoryAgent",
        "Agents::GroupAgent",
        "Agents::GroupInputAgent",
        "Agents::GroupOutputAgent",
        "Agents::LLMAgent",
    }
)

# Keys the model holds as typed fields; every other key goes to ``extra``.
# ``exported_at`` is dropped: an export stamps its own time.
_STORY_FIELDS = frozenset(
    {
        "schema_version",
        "name",
        "description",
        "guid",
        "exported_at",
        "agents",
        "links",
        "keep_events_for",
        "send_to_story_enabled",
        "entry_agent_guid",
        "exit_agent_guid",
        "exit_agent_guids",
    }
)
_AGENT_FIELDS = frozenset({"type", "name", "disabled", "guid", "options", "schedule", "keep_events_for"})


@dataclass(frozen=True)
class Problem:
    """One problem, with the action (by name) and the option it is about when it is about one."""

    message: str
    action: str | None = None
    option: str | None = None


class StoryFormatError(ValueError):
    """The data is not a story storyline can import; the message says where and what to fix.

    ``problems`` lists each problem on its own, for tools that show them one by one;
    ``located`` holds the same problems with the action and option each names (the API's 422).
    """

    def __init__(self, message: str, problems: list[str] | None = None,
                 located: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]
        self.located = located if located is not None else [Problem(p) for p in self.problems]


_OPTION_MESSAGE = (re.compile(r"^option '(?P<option>[^']+)'"), re.compile(r"^(?P<option>[\w.\[\]-]+): "))


def option_of(message: str) -> str | None:
    """The option an action module's problem names: ``"url: is required"`` or ``"option 'rules' ..."``."""
    for pattern in _OPTION_MESSAGE:
        match = pattern.match(message)
        if match:
            return match["option"]
    return None


@cache
def _action_types() -> dict[str, ActionType]:
    """The action modules by Tines type, or none while the actions package cannot import.

    Imported lazily: action modules are written independently of the importer, and a
    story must still load (with warnings) when one of them is missing or broken.
    """
    try:
        from storyline.actions import TYPES
    except ImportError:
        return {}
    return dict(TYPES)


def _quote(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _is_index(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_bool(value: Any) -> bool:
    """Tines writes booleans as JSON booleans and, in old exports, as "true"/"false"."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _derived_guid(*parts: str) -> str:
    """A stable 32-hex guid (Tines' shape) for hand-written stories that omit one.

    Stable, not random: importing the same file twice with --replace must match the
    same actions, so their ids, queued jobs and events survive.
    """
    return hashlib.md5(":".join(("storyline", *parts)).encode(), usedforsecurity=False).hexdigest()


#: The largest whole number a column holds (a 32-bit SQL integer).
_MAX_INT = 2**31 - 1

#: The longest text each column holds, by what the importer calls it.
TEXT_LIMITS = {"name": 255, "guid": 64, "type": 128, "options.path": 255, "options.secret": 255}


def _int_field(value: Any, what: str, problems: list[str]) -> int | None:
    number = value if _is_index(value) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is not None and 0 <= number <= _MAX_INT:
        return number
    problems.append(f"{what} is {_quote(value)[:40]}, not a whole number of seconds (0 to {_MAX_INT})")
    return None


def _text_problem(value: str | None, what: str, limit: int | None) -> str | None:
    """Why the database could not store ``value`` (too long for its column, or a NUL character)."""
    if value is None:
        return None
    if limit is not None and len(value) > limit:
        return f"{what} is {len(value)} characters long; storyline keeps at most {limit}"
    if "\x00" in value:
        return f"{what} holds a NUL character (\\u0000), which the database cannot store"
    return None


def _check_text(story: dict[str, str | None], actions: list[ActionDef], story_label: str,
                problems: list[str], located: dict[str, Problem]) -> None:
    """Refuse text no database column can hold, before it reaches one (PostgreSQL would fail the import)."""
    for key, value in story.items():
        found = _text_problem(value, f"{story_label}: '{key}'", TEXT_LIMITS.get(key.removeprefix("entry_agent_")))
        if found:
            problems.append(found)
    for action in actions:
        label = f"{story_label}, action {action.name[:60]!r}"
        fields = {"name": action.name, "guid": action.guid, "type": action.type,
                  "options.path": action.webhook_path, "options.secret": action.webhook_secret}
        for key, value in fields.items():
            found = _text_problem(value, f"{label}: {key!r}", TEXT_LIMITS[key])
            if found:
                problems.append(found)
                located[found] = Problem(found, action.name, key.removeprefix("options.")
                                         if key.startswith("options.") else None)


def _check_types(
    actions: list[ActionDef],
    story_label: str,
    problems: list[str],
    warnings: list[str],
    validate_options: bool,
    located: dict[str, Problem],
    formulas: bool,
) -> None:
    """Warn once per type storyline cannot run; collect each action module's option problems.

    ``formulas`` is False for an export from before Tines had formulas: its templates are
    checked as the Liquid they are (``templating.values.formulas_in``)."""
    cannot_run: dict[str, list[str]] = defaultdict(list)

    def add(action: ActionDef, label: str, message: str, option: str | None) -> None:
        text = f"{label}: {message}"
        problems.append(text)
        located[text] = Problem(text, action.name, option)

    for action in actions:
        label = f"{story_label}, action {action.name!r} ({action.type})"
        if validate_options:
            for message in schedule_problems(action.type, action.schedule):
                add(action, label, message, "schedule")
        module = _action_types().get(action.type)
        if module is None:
            cannot_run[action.type].append(action.name)
            continue
        if not validate_options:
            continue
        try:
            messages = list(module.validate(action.options))
        except Exception as exc:  # a validator bug must not hide which action tripped it
            add(action, label, f"checking its options failed ({type(exc).__name__}: {exc}); "
                "this is a storyline bug, please report it with the story", None)
            continue
        for message in messages:
            add(action, label, message, option_of(message))
        # A template storyline cannot parse never refuses the story: Tines (Ruby Liquid) may well
        # render it, and a refused export leaves its owner no way forward. The action fails when
        # it runs, with the parse error naming the option; `tines check` lists it beforehand.
        warnings.extend(
            f"{label}: {message}; the story is imported and this action fails when it runs"
            for message in template_problems(action.options, "", formulas=formulas)
        )
    for type_name, names in cannot_run.items():
        what = (
            f"storyline cannot run {type_name} actions yet"
            if type_name in TINES_TYPES
            else f"unknown action type {type_name!r}"
        )
        listed = ", ".join(repr(name) for name in names)
        warnings.append(
            f"{story_label}: {what} ({listed}); "
            f"{'it is' if len(names) == 1 else 'they are'} imported and exported unchanged but will not run"
        )


def parse_story(
    data: Any, *, source: str = "", validate_options: bool = True
) -> tuple[StoryDef, list[str]]:
    """Turn a parsed Tines export into a :class:`StoryDef` and a list of warnings.

    ``source`` (usually the file name) prefixes error messages. With
    ``validate_options`` (the default) each action's options are checked by its action
    module; ``tines check`` and format round trips turn it off to look at the format
    alone. Raises :class:`StoryFormatError` listing every problem found.
    """
    where = source or "story"
    if not isinstance(data, dict):
        raise StoryFormatError(
            f"{where}: expected a JSON object (a Tines story export with 'agents' and 'links'), "
            f"got {type(data).__name__}"
        )
    agents = data.get("agents")
    if not isinstance(agents, list):
        found = "no 'agents' key" if "agents" not in data else f"'agents' is a {type(agents).__name__}"
        raise StoryFormatError(
            f"{where}: {found}; a Tines story export has an 'agents' list "
            "(export the story from Tines with 'Export' in the story menu)"
        )

    problems: list[str] = []
    warnings: list[str] = []

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: the story has no 'name'; add a \"name\" to the top-level object")
        name = Path(source).stem if source else "unnamed story"
    story_label = f"story {name!r}"

    guid = data.get("guid")
    if not isinstance(guid, str) or not guid.strip():
        guid = _derived_guid(name)
        warnings.append(f"{story_label}: no 'guid'; using {guid} (derived from the name)")

    description = data.get("description")
    if description is not None and not isinstance(description, str):
        description = json.dumps(description)

    schema_version: int | None = None
    raw_schema = data.get("schema_version")
    if raw_schema is not None:
        schema_version = _int_field(raw_schema, f"{story_label}: 'schema_version'", problems)
        if schema_version is not None and schema_version > NEWEST_KNOWN_SCHEMA:
            warnings.append(
                f"{story_label}: schema_version {schema_version} is newer than the newest tested "
                f"({NEWEST_KNOWN_SCHEMA}); unknown keys are kept for export but not used"
            )

    keep_events_for = DEFAULT_KEEP_EVENTS_FOR  # story-level since schema 6; per agent before
    if data.get("keep_events_for") is not None:
        seconds = _int_field(data["keep_events_for"], f"{story_label}: 'keep_events_for'", problems)
        keep_events_for = seconds if seconds is not None else DEFAULT_KEEP_EVENTS_FOR

    parsed = [_parse_agent(agent, index, story_label, guid, problems) for index, agent in enumerate(agents)]
    # An agent that could not be read leaves a hole, so link indexes still line up
    # with agents[] and every other problem is still reported.
    actions = [action for action in parsed if action is not None]
    unnamed = sum(1 for agent in agents if isinstance(agent, dict) and not agent.get("guid"))
    if unnamed:
        warnings.append(
            f"{story_label}: {unnamed} action(s) have no 'guid'; using guids derived from the story "
            "guid, position and name (stable across re-imports of this file)"
        )

    _check_duplicates(parsed, story_label, problems, warnings)
    links = _parse_links(data.get("links"), len(agents), story_label, problems)
    _check_control_links(data.get("control_links"), len(agents), story_label, problems)

    guids = {action.guid for action in actions}
    entry = str(data["entry_agent_guid"]) if data.get("entry_agent_guid") else None
    if entry is not None and entry not in guids:
        warnings.append(f"{story_label}: entry_agent_guid {entry!r} is not one of the story's actions")
    exits = _exit_guids(data, story_label, warnings)
    for exit_guid in exits:
        if exit_guid not in guids:
            warnings.append(f"{story_label}: exit agent guid {exit_guid!r} is not one of the story's actions")

    embedded = data.get("send_to_stories")
    if isinstance(embedded, list) and embedded:
        warnings.append(
            f"{story_label}: embeds {len(embedded)} sub-stor{'y' if len(embedded) == 1 else 'ies'} "
            "(send_to_stories); they are kept for export but not imported: import each "
            "sub-story's own export file"
        )

    located: dict[str, Problem] = {}
    _check_text({"name": name, "guid": guid, "description": description, "entry_agent_guid": entry},
                actions, story_label, problems, located)
    _check_types(actions, story_label, problems, warnings, validate_options, located, formulas_in(schema_version))

    if problems:
        raise _error(source, name, problems, located)

    story = StoryDef(
        name=name,
        guid=guid,
        description=description,
        schema_version=schema_version,
        keep_events_for=keep_events_for,
        send_to_story_enabled=_as_bool(data.get("send_to_story_enabled")),
        entry_agent_guid=entry,
        exit_agent_guids=exits,
        actions=actions,
        links=links,
        extra={key: copy.deepcopy(value) for key, value in data.items() if key not in _STORY_FIELDS},
    )
    return story, warnings


def _error(source: str, name: str, problems: list[str], located: dict[str, Problem]) -> StoryFormatError:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    head = f"cannot import {source} (story {name!r})" if source else f"cannot import story {name!r}"
    return StoryFormatError(f"{head}: {count}\n" + "\n".join(f"  - {p}" for p in problems), problems,
                            [located.get(p, Problem(p)) for p in problems])


def _parse_agent(
    agent: Any, index: int, story_label: str, story_guid: str, problems: list[str]
) -> ActionDef | None:
    label = f"{story_label}, agents[{index}]"
    if not isinstance(agent, dict):
        problems.append(f"{label}: expected an object, got {type(agent).__name__}")
        return None
    type_ = agent.get("type")
    name = agent.get("name")
    has_type = isinstance(type_, str) and bool(type_.strip())
    has_name = isinstance(name, str) and bool(name.strip())
    if not has_type:
        problems.append(f"{label}: no 'type'; every action needs one, such as \"Agents::WebhookAgent\"")
    if not has_name:
        problems.append(f"{label}: no 'name'; every action needs a name (templates reach it by its key)")
    if not (isinstance(type_, str) and isinstance(name, str) and has_type and has_name):
        return None
    label = f"{story_label}, action {name!r} ({type_})"

    options = agent.get("options")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        problems.append(f"{label}: 'options' must be a JSON object, got {type(options).__name__}")
        options = {}

    guid = agent.get("guid")
    if not isinstance(guid, str) or not guid.strip():
        # Index and name make it stable across re-imports of the same file.
        guid = _derived_guid(story_guid, str(index), name)

    keep_events_for = None
    if agent.get("keep_events_for") is not None:
        keep_events_for = _int_field(agent["keep_events_for"], f"{label}: 'keep_events_for'", problems)

    action = ActionDef(
        type=type_,
        name=name,
        guid=guid,
        options=copy.deepcopy(options),
        schedule=copy.deepcopy(agent.get("schedule")),
        disabled=_as_bool(agent.get("disabled", False)),
        keep_events_for=keep_events_for,
        extra={key: copy.deepcopy(value) for key, value in agent.items() if key not in _AGENT_FIELDS},
        schedule_present="schedule" in agent,
    )
    if not action.key:
        problems.append(
            f"{label}: the name has no letters or digits, so templates could not reference the "
            "action; rename it"
        )
    return action


def _check_duplicates(
    actions: list[ActionDef | None], story_label: str, problems: list[str], warnings: list[str]
) -> None:
    by_guid: dict[str, list[int]] = defaultdict(list)
    by_key: dict[str, list[int]] = defaultdict(list)
    by_path: dict[str, list[int]] = defaultdict(list)
    named: dict[int, ActionDef] = {}
    for index, action in enumerate(actions):
        if action is None:
            continue
        named[index] = action
        by_guid[action.guid].append(index)
        by_key[action.key].append(index)
        if action.webhook_path is not None:
            by_path[action.webhook_path].append(index)
    for guid, indexes in by_guid.items():
        if len(indexes) > 1:
            problems.append(
                f"{story_label}: agents {_list(indexes)} share guid {guid!r}; "
                "each action needs its own guid (links and sub-story entry/exit use them)"
            )
    for key, indexes in by_key.items():
        if len(indexes) > 1 and key:
            names = ", ".join(repr(named[i].name) for i in indexes)
            warnings.append(
                f"{story_label}: actions {names} (agents {_list(indexes)}) share the key {key!r}; "
                "templates referencing it get whichever of them is upstream of the event — "
                "rename one if both can be"
            )
    for path, indexes in by_path.items():
        if len(indexes) > 1:
            names = ", ".join(repr(named[i].name) for i in indexes)
            problems.append(
                f"{story_label}: webhooks {names} share the path {path!r}; "
                "give each a different options.path"
            )


def _list(indexes: list[int]) -> str:
    return ", ".join(str(i) for i in indexes)


def _parse_links(raw: Any, count: int, story_label: str, problems: list[str]) -> list[tuple[int, int]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{story_label}: 'links' must be a list of {{\"source\": i, \"receiver\": j}}")
        return []
    links: list[tuple[int, int]] = []
    for index, link in enumerate(raw):
        label = f"{story_label}, links[{index}]"
        if not isinstance(link, dict):
            problems.append(f"{label}: expected {{\"source\": i, \"receiver\": j}}, got {_quote(link)}")
            continue
        ends: list[int] = []
        for end in ("source", "receiver"):
            value = link.get(end)
            if not _is_index(value):
                problems.append(
                    f"{label}: {end} {_quote(value)} is not an index into agents[] "
                    f"(a whole number from 0 to {count - 1})"
                )
            elif not 0 <= value < count:
                problems.append(
                    f"{label}: {end} {value} is out of range: the story has {count} "
                    f"action{'s' if count != 1 else ''} (indexes 0 to {count - 1}); "
                    "fix the index or remove the link"
                )
            else:
                ends.append(value)
        if len(ends) == 2:
            links.append((ends[0], ends[1]))
    return links


def _check_control_links(raw: Any, count: int, story_label: str, problems: list[str]) -> None:
    """Huginn's ``control_links`` (``{controller, control_target}`` indexes) are kept for export
    unchanged; Tines exports always have them empty, but a dangling one is still refused."""
    if raw is None or raw == []:
        return
    if not isinstance(raw, list):
        problems.append(f"{story_label}: 'control_links' must be a list")
        return
    for index, link in enumerate(raw):
        for end in ("controller", "control_target"):
            value = link.get(end) if isinstance(link, dict) else None
            if not (_is_index(value) and 0 <= value < count):
                problems.append(
                    f"{story_label}, control_links[{index}]: {end} {_quote(value)} is not an index into "
                    f"agents[] (0 to {count - 1})"
                )


def _exit_guids(data: dict[str, Any], story_label: str, warnings: list[str]) -> list[str]:
    """``exit_agent_guids`` (sv3+) wins over the legacy singular ``exit_agent_guid`` (sv1)."""
    plural = data.get("exit_agent_guids")
    singular = str(data["exit_agent_guid"]) if data.get("exit_agent_guid") else None
    if isinstance(plural, list):
        exits = [str(g) for g in plural if g]
        if singular is not None and singular not in exits:
            warnings.append(
                f"{story_label}: exit_agent_guid {singular!r} is not in exit_agent_guids; "
                "using exit_agent_guids"
            )
        return exits
    return [str(singular)] if singular is not None else []


def load_file(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES, validate_options: bool = True
) -> tuple[StoryDef, list[str]]:
    """Read and parse one export file; refuses files over ``max_bytes`` before reading them."""
    data = read_export(path, max_bytes=max_bytes)
    return parse_story(data, source=str(path), validate_options=validate_options)


def read_export(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The JSON of one export file, unparsed as a story; refuses files over ``max_bytes`` before reading them."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise StoryFormatError(
            f"{path}: the file is {_size(size)}, over the {_size(max_bytes)} limit for a story "
            "(real Tines exports are well under 1 MB); check it is the right file, or raise the limit"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StoryFormatError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "a Tines export is a UTF-8 JSON file"
        ) from None
    if not text.strip():
        raise StoryFormatError(f"{path}: the file is empty; expected a Tines story export (JSON)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoryFormatError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    return data


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if n >= 1024:
        return f"{n / 1024:.1f} KB".replace(".0 KB", " KB")
    return f"{n} bytes"

"""``storyline tines check``: which parts of a Tines export storyline would not run as Tines does.

Nothing here keeps its own list of what storyline supports: action types come from
``storyline.actions.TYPES``, Liquid tags and filters from the templating environment
(``templating.render.ENV``), formula functions from ``templating.formula.FUNCTIONS``,
and option problems from each action module's ``validate``. So a filter or function
added to the templating package is supported here the moment it is registered.

Options storyline does not know are not reported: Tines itself ignores options an
action type does not read (151 sv1 agents still carry Huginn's
``expected_update_period_in_days``), so they change nothing about how a story runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from storyline.model import ActionDef, StoryDef
from storyline.templating.check import template_findings
from storyline.templating.values import formulas_in
from storyline.tines.importer import StoryFormatError, load_file, parse_story
from storyline.tines.schedules import problems as schedule_problems

if TYPE_CHECKING:
    from storyline.actions.base import ActionType

_OPTION_MESSAGE = re.compile(r"^(?P<option>[\w.\[\]-]+): (?P<reason>.+)$", re.DOTALL)


@dataclass(frozen=True)
class Unsupported:
    """One thing storyline would not run as Tines does; ``action`` is None for the file itself."""

    action: str | None
    what: str
    reason: str


@dataclass
class StoryReport:
    """The check of one story: a file's story, or a sub-story embedded in it (``send_to_stories``)."""

    file: str
    name: str | None
    schema_version: int | None
    actions: int
    unsupported: list[Unsupported] = field(default_factory=list)

    @property
    def supported_actions(self) -> int:
        """Actions with nothing unsupported (a file that did not load has none)."""
        flagged = {item.action for item in self.unsupported}
        if None in flagged:
            return 0
        return self.actions - len(flagged)


def check_paths(paths: list[str | os.PathLike[str]]) -> list[StoryReport]:
    """One report per story in the files, embedded sub-stories after their file's story."""
    return [report for path in paths for report in check_file(path)]


def check_file(path: str | os.PathLike[str]) -> list[StoryReport]:
    """The reports of one export file; a file that is not a story gets one report saying why."""
    try:
        story, _warnings = load_file(path, validate_options=False)
    except (StoryFormatError, OSError) as exc:
        return [StoryReport(str(path), None, None, 0, [Unsupported(None, "file", str(exc))])]
    return _with_embedded(story, str(path))


def check_data(data: Any, source: str) -> list[StoryReport]:
    """:func:`check_file` for an export already parsed from JSON (an upload): ``source`` names it."""
    try:
        story, _warnings = parse_story(data, source=source, validate_options=False)
    except StoryFormatError as exc:
        return [StoryReport(source, None, None, 0, [Unsupported(None, "file", str(exc))])]
    return _with_embedded(story, source)


def _with_embedded(story: StoryDef, path: str) -> list[StoryReport]:
    reports = [check_story(story, str(path))]
    embedded = story.extra.get("send_to_stories")
    for index, data in enumerate(embedded if isinstance(embedded, list) else []):
        source = f"{path}: send_to_stories[{index}]"
        try:
            sub, _warnings = parse_story(data, source=source, validate_options=False)
        except StoryFormatError as exc:
            reports.append(StoryReport(str(path), None, None, 0, [Unsupported(None, source, str(exc))]))
            continue
        reports.append(check_story(sub, str(path)))
    return reports


def check_story(story: StoryDef, file: str) -> StoryReport:
    """What in ``story`` storyline would not run as Tines does, action by action."""
    report = StoryReport(file, story.name, story.schema_version, len(story.actions))
    for action in story.actions:
        report.unsupported.extend(check_action(action, formulas=formulas_in(story.schema_version)))
    return report


def check_action(action: ActionDef, *, formulas: bool = True) -> list[Unsupported]:
    """The action's type, option problems, schedule and every template in its options
    (read as Liquid only when ``formulas`` is False: a story from before formulas)."""
    from storyline.actions import TYPES

    found: list[Unsupported] = []

    def add(what: str, reason: str) -> None:
        found.append(Unsupported(action.name, what, reason))

    module = TYPES.get(action.type)
    if module is None:
        add(
            f"action type {action.type}",
            "storyline has no action of this type: the action is imported and exported unchanged, "
            "and a run that reaches it fails with an error",
        )
    else:
        for message in _validate(module, action.options):
            match = _OPTION_MESSAGE.match(message)
            if match and match["option"] in action.options:
                add(f"option {match['option']}", match["reason"])
            else:
                add("options", message)
    for message in schedule_problems(action.type, action.schedule):
        add("schedule", message)
    for finding in template_findings(action.options, formulas=formulas):
        if finding.severity == "unsupported":  # warnings (an unknown filter) run as in Tines
            add(finding.what, f"in option '{finding.option}': {finding.reason}")
    return found


def _validate(module: ActionType, options: dict[str, Any]) -> list[str]:
    try:
        return list(module.validate(options))
    except Exception as exc:  # a validator bug must not stop the check of other actions
        return [f"checking the options failed ({type(exc).__name__}: {exc}); this is a storyline bug"]


def as_json(reports: list[StoryReport]) -> dict[str, Any]:
    """The ``--json`` shape: ``{"stories": [{file, name, schema_version, actions, unsupported}]}``."""
    return {"stories": [asdict(report) for report in reports]}


def supported_share(reports: list[StoryReport]) -> tuple[int, int]:
    """(actions with nothing unsupported, all actions) over the reports."""
    return sum(r.supported_actions for r in reports), sum(r.actions for r in reports)


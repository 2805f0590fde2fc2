"""A leading ``=`` in an export from before Tines had formulas is text, and the Liquid in it renders.

Until formulas came, every option string of a Tines story was a Liquid template and nothing
else (as Huginn's ``interpolate_string`` renders every string); ``=expr`` and ``<<pills>>``
mean a formula only in stories that can hold them: schema 4 and newer, and stories written
for storyline. The sources are cited in ``templating/values.py`` (``formulas_in``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from storyline.templating import StaticScope, render_value
from storyline.templating.values import formulas_in
from storyline.tines.check import check_file
from storyline.tines.exporter import export_story
from storyline.tines.importer import parse_story
from tests.builders import HTTP, agent, story

SCOPE = StaticScope(resources={"tines_api_email": "alice@example.com"})
HEADER = '="{{ .RESOURCE.tines_api_email }}"'


def old_story(value: str, schema_version: int = 3) -> dict[str, Any]:
    return story("Blocklist", [
        agent(HTTP, "Update a blocklist", url="https://tines.example/api/v1/global_resources/1", method="put",
              headers={"x-user-email": value}),
    ], [], schema_version=schema_version)


@pytest.mark.parametrize(("schema_version", "formulas"), [
    (1, False), (3, False), (4, True), (6, True), (18, True), (23, True), (None, True),
])
def test_schemas_1_and_3_predate_formulas_and_schema_4_on_may_hold_them(
    schema_version: int | None, formulas: bool
) -> None:
    assert formulas_in(schema_version) is formulas


def test_in_a_story_from_before_formulas_a_leading_equals_is_kept_and_the_liquid_after_it_renders() -> None:
    assert render_value(HEADER, {}, SCOPE, formulas=False) == '="alice@example.com"'


def test_in_a_story_from_before_formulas_a_formula_and_a_pill_are_text() -> None:
    event = {"alert": {"user": "bob"}}
    rendered = render_value({"a": "=UPCASE(alert.user)", "b": "<<alert.user>> is {{ .alert.user }}", "c": "=x"},
                            event, SCOPE, formulas=False)
    assert rendered == {"a": "=UPCASE(alert.user)", "b": "<<alert.user>> is bob", "c": "=x"}


def test_in_a_story_with_formulas_a_formula_and_a_pill_still_evaluate() -> None:
    event = {"alert": {"user": "bob", "ids": [1, 2]}}
    rendered = render_value({"a": "=UPCASE(alert.user)", "b": "<<alert.user>> is {{ .alert.user }}",
                             "ids": "=alert.ids", "email": "=RESOURCE.tines_api_email"}, event, SCOPE)
    assert rendered == {"a": "BOB", "b": "bob is bob", "ids": [1, 2], "email": "alice@example.com"}


def test_in_a_story_with_formulas_the_old_header_is_a_text_literal_so_its_liquid_is_never_rendered() -> None:
    """Why the 2021 header went out unrendered: ``"{{ ... }}"`` is a valid formula, a quoted text."""
    assert render_value(HEADER, {}, SCOPE) == "{{ .RESOURCE.tines_api_email }}"


def test_import_and_tines_check_read_an_old_export_s_values_as_liquid(tmp_path: Path) -> None:
    broken_formula = "=UPCASE(alert.user"
    _story, warnings = parse_story(old_story(broken_formula, schema_version=3))
    assert warnings == []
    _story, warnings = parse_story(old_story(broken_formula, schema_version=4))
    assert any("formula error" in w and "headers.x-user-email" in w for w in warnings)

    path = tmp_path / "old.json"
    path.write_text(json.dumps(old_story(HEADER)))
    [report] = check_file(path)
    assert report.unsupported == []


def test_an_old_export_s_leading_equals_goes_back_out_unchanged() -> None:
    data = old_story(HEADER)
    exported = export_story(parse_story(copy.deepcopy(data))[0])
    assert exported["schema_version"] == 3
    assert exported["agents"][0]["options"] == data["agents"][0]["options"]

"""Every template in the real Tines exports parses and renders.

The exports live beside the repository in ``../shared/tines-stories`` (test data we may
not copy); the test skips when they are absent. Each action's whole ``options`` value is
rendered against an empty event, the state of a story's first run before any upstream
data exists: every path is missing, so this checks syntax, tags and filters, and that a
missing path never raises.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from storyline.templating import TemplateError, render_value
from tests.corpus import corpus_paths

# Templates that are genuinely broken in the export itself (would fail in Tines too).
# Empty: every template in the corpus renders.
KNOWN_BROKEN: set[tuple[str, str]] = set()


class PermissiveScope:
    """Answers every credential and resource name, so only the templates are under test."""

    story_run = "00000000-0000-4000-8000-000000000001"

    def credential(self, name: str) -> str:
        return f"<credential {name}>"

    def resource(self, name: str) -> Any:
        return f"<resource {name}>"

    def prompt_url(self, status: str) -> str:
        return f"http://127.0.0.1:8000/prompt?status={status}"

    def meta(self) -> dict[str, Any]:
        return {"story": {"name": "corpus"}}


def _templates(value: Any) -> list[str]:
    if isinstance(value, str):
        is_template = "{{" in value or "{%" in value or "<<" in value or value.startswith("=")
        return [value] if is_template else []
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _templates(k) + _templates(v)]
    if isinstance(value, list):
        return [t for v in value for t in _templates(v)]
    return []


def test_every_template_in_the_real_exports_renders() -> None:
    files = corpus_paths()

    scope = PermissiveScope()
    total = 0
    failures: list[str] = []
    for path in files:
        story = json.loads(path.read_text())
        for action in story.get("agents", []):
            options = action.get("options") or {}
            for template in _templates(options):
                total += 1
                try:
                    render_value(template, {}, scope)
                except TemplateError as err:
                    if (path.name, action["name"]) not in KNOWN_BROKEN:
                        failures.append(f"{path.name} / {action['name']}: {err}")
            # The options as a whole, as the engine renders them (keys included): a template
            # error is already counted above; any other exception fails the test.
            with contextlib.suppress(TemplateError):
                render_value(options, {}, scope)

    print(f"\n{total - len(failures)} of {total} templates in {len(files)} exports render")
    assert total > 1000, "the corpus should hold over a thousand templates"
    assert not failures, "\n".join(failures)

"""Every template in the real Tines exports parses, renders, and uses only what the registry supports.

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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from storyline.templating import TemplateError, render_value
from storyline.templating.check import template_findings
from tests.corpus import corpus_paths

# Templates that are genuinely broken in the export itself (would fail in Tines too).
# Empty: every template in the corpus renders.
KNOWN_BROKEN: set[tuple[str, str]] = set()


# Every credential answers with a real private key, so a template that signs with one
# (the Gmail story's `jwt_sign`) renders as it would with the user's key.
CREDENTIAL = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)


class PermissiveScope:
    """Answers every credential and resource name, so only the templates are under test."""

    story_run = "00000000-0000-4000-8000-000000000001"

    def credential(self, name: str) -> str:
        return CREDENTIAL

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


def _actions(story: dict[str, Any]) -> list[dict[str, Any]]:
    """A story's actions and those of the sub-stories embedded in its export."""
    found = list(story.get("agents", []))
    for sub in story.get("send_to_stories") or []:
        found.extend(_actions(sub))
    return found


def test_every_template_in_the_real_exports_renders() -> None:
    files = corpus_paths()

    scope = PermissiveScope()
    total = 0
    failures: list[str] = []
    for path in files:
        story = json.loads(path.read_text())
        for action in _actions(story):
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
    assert total > 1800, "the corpus (with embedded sub-stories) should hold over 1,800 templates"
    assert not failures, "\n".join(failures)


def test_every_tag_filter_and_function_in_the_real_exports_is_supported() -> None:
    unsupported: list[str] = []
    warnings: set[str] = set()
    actions = 0
    for path in corpus_paths():
        for action in _actions(json.loads(path.read_text())):
            actions += 1
            for finding in template_findings(action.get("options") or {}):
                line = f"{path.name} / {action['name']} / {finding.option}: {finding.what}: {finding.reason}"
                if finding.severity == "unsupported":
                    unsupported.append(line)
                else:
                    warnings.add(finding.what)
    assert actions > 900
    assert not unsupported, "\n".join(unsupported)
    # The one unknown filter in the corpus is a typo of as_object, which Tines ignores too.
    assert warnings == {"filter s_object"}

"""Ready-made chat actions (``storyline template list/show``): name -> description and Tines action JSON.

Each platform keeps its own under a name prefix (``teams_``, ``slack_``) in its own module.
"""

from __future__ import annotations

from typing import Any

from storyline.chat import slack_templates, teams_templates

TEMPLATES: dict[str, dict[str, Any]] = {**teams_templates.TEMPLATES, **slack_templates.TEMPLATES}

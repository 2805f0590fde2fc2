"""Stories shipped with storyline, in Tines export format."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.engine import Connection

HERE = Path(__file__).parent
DEMO = ("demo-alert-triage.json",)


def install_demo(conn: Connection) -> list[str]:
    """Import the demo stories that are not there yet; returns the names loaded."""
    from storyline.store.stories import StoryExistsError, save_story
    from storyline.tines.importer import load_file

    loaded = []
    for name in DEMO:
        story, _warnings = load_file(HERE / name)
        try:
            save_story(conn, story, now=time.time())
        except StoryExistsError:
            continue
        loaded.append(story.name)
    return loaded

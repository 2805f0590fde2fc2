"""Installing a story pack: every story once, tuning resources only where the user set none."""

from __future__ import annotations

import time

import pytest

from storyline import packs
from storyline.store.db import make_engine, upgrade
from storyline.store.resources import load_resources, save_resource
from storyline.store.stories import list_stories


def test_install_is_idempotent_and_keeps_the_users_resources(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        save_resource(conn, "chatbot_max_indicators", 3, time.time())
        first = packs.install(conn, "security-chatbot")
    assert sorted(first.stories) == ["Channel notification", "Slack proactive alert", "Slack security chatbot",
                                     "Teams proactive alert", "Teams security chatbot"]
    assert "chatbot_max_indicators" not in first.resources
    with engine.begin() as conn:
        again = packs.install(conn, "security-chatbot")
        assert again.stories == [] and len(again.skipped) == 5
        assert len(packs.install(conn, "security-chatbot", replace=True).stories) == 5
        assert len(list_stories(conn)) == 5
        assert load_resources(conn)["chatbot_max_indicators"] == 3
    with pytest.raises(packs.PackError, match="no pack 'nope'"), engine.begin() as conn:
        packs.install(conn, "nope")
    engine.dispose()

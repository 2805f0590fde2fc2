"""Installing a story pack: every story once, tuning resources only where the user set none."""

from __future__ import annotations

import time
from pathlib import Path

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


def _secrets(database_url: str) -> dict[str, str | None]:
    """Each webhook path of the database and its secret, as `storyline story list` gives them."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        found = {hook["path"]: hook["secret"] for story in list_stories(conn) for hook in story["webhooks"]}
    engine.dispose()
    return found


def _install(database_url: str, *, replace: bool = False) -> dict[str, str | None]:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        packs.install(conn, "security-chatbot", replace=replace)
    engine.dispose()
    return _secrets(database_url)


def test_each_install_gives_each_webhook_a_random_secret_of_its_own(database_url: str, tmp_path: Path) -> None:
    mine = _install(database_url)
    theirs = _install(f"sqlite:///{tmp_path}/theirs.db")
    secured = {path for path in mine if path not in packs.get("security-chatbot").secretless_webhooks}
    assert secured == {"channel-notification", "slack-proactive-alert", "teams-proactive-alert",
                       "security-chatbot-teams"}
    for path in secured:
        assert mine[path] and theirs[path] and len(mine[path] or "") >= 32, path
        assert mine[path] != theirs[path], f"{path}: two installs share a secret"
    assert len({mine[path] for path in secured}) == len(secured), "two webhooks of one install share a secret"


def test_a_reinstall_with_replace_keeps_the_webhook_secrets(database_url: str) -> None:
    first = _install(database_url)
    assert _install(database_url, replace=True) == first


def test_a_secretless_pack_webhook_is_one_that_verifies_its_sender(database_url: str) -> None:
    """Only a webhook that checks every request's signature may go without a secret in its URL."""
    from storyline.tines.importer import load_file

    for pack in packs.PACKS.values():
        options = {action.webhook_path: action.options for path in pack.files
                   for action in load_file(path)[0].actions if action.is_webhook}
        for path in pack.secretless_webhooks:
            assert options[path].get("verification"), f"{pack.name}: {path} has neither a secret nor verification"
    assert _install(database_url)["security-chatbot-slack"] is None

"""Story packs: sets of stories shipped with storyline that work together, installed in one go.

A pack is a directory of Tines exports under ``storyline/stories/`` plus the resources its
stories read for tuning (installed only when absent, so a user's values survive a
reinstall). Credentials are never part of a pack: the user sets them, and the stories
say "not configured" for an optional one that is missing.

Nor are webhook secrets: a secret printed in a shipped file is known to everyone who has
the file. Each install gives each of its webhooks a random secret of its own, and a
reinstall (``replace``) keeps the one already there, so URLs handed to Slack, Teams or an
alerting system keep working.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from storyline.model import StoryDef
from storyline.stories import HERE

SECRET_BYTES = 24


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    credentials: tuple[str, ...]
    """Credentials the stories use; the README says which are optional."""
    resources: dict[str, Any] = field(default_factory=dict)
    """Tuning values installed when absent."""
    secretless_webhooks: tuple[str, ...] = ()
    """Webhook paths served without a secret, because an app manifest shipped with the pack
    names their URL; each must verify its sender's signature instead."""

    @property
    def files(self) -> list[Path]:
        return sorted((HERE / self.name).glob("*.json"))


PACKS: dict[str, Pack] = {
    pack.name: pack
    for pack in (
        Pack(
            "security-chatbot",
            "Slack and Teams security chatbot: /analyzedomain, /analyzeip, /analyzeurl, /analyzehash with "
            "VirusTotal, URLhaus and RDAP verdicts; proactive alerts with Confirm / Not me; channel notifications",
            credentials=("slack_bot_token", "slack_signing_secret", "teams_bot", "virustotal", "urlhaus",
                         "slack_incoming_webhook_url", "teams_workflow_url"),
            resources={
                "chatbot_max_indicators": 10,
                "chatbot_reply_within_seconds": 90,
                "alert_escalate_after_seconds": 900,
            },
            secretless_webhooks=("security-chatbot-slack",),  # slack-app-manifest.yaml; Slack signs each request
        ),
    )
}


class PackError(ValueError):
    """An unknown pack, or stories that cannot be installed; the message says which and why."""


@dataclass
class Installed:
    stories: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Stories already there (install again with ``replace`` to update them)."""
    resources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def get(name: str) -> Pack:
    try:
        return PACKS[name]
    except KeyError:
        raise PackError(f"no pack {name!r} (packs: {', '.join(sorted(PACKS))})") from None


def install(conn: Connection, name: str, *, replace: bool = False, now: float | None = None) -> Installed:
    """Import the pack's stories and its missing resources in the caller's transaction."""
    from storyline.store.resources import load_resources, save_resource
    from storyline.store.stories import StoryExistsError, list_stories, save_story
    from storyline.tines.importer import StoryFormatError, load_file

    pack = get(name)
    when = time.time() if now is None else now
    done = Installed()
    present_secrets = {hook["path"]: hook["secret"] for s in list_stories(conn) for hook in s["webhooks"]}
    for path in pack.files:
        try:
            story, warnings = load_file(path)
        except StoryFormatError as exc:
            raise PackError(f"pack {name}: {path.name}: {exc}") from None
        done.warnings.extend(f"{story.name}: {w}" for w in warnings)
        _give_secrets(story, pack, present_secrets)
        try:
            save_story(conn, story, replace=replace, now=when)
        except StoryExistsError:
            done.skipped.append(story.name)
            continue
        done.stories.append(story.name)
    present = load_resources(conn)
    for resource, value in pack.resources.items():
        if resource not in present:
            save_resource(conn, resource, value, when)
            done.resources.append(resource)
    return done


def _give_secrets(story: StoryDef, pack: Pack, present: dict[str, str | None]) -> None:
    """Each webhook keeps the secret it has in the database, else gets a new random one."""
    for action in story.actions:
        path = action.webhook_path
        if path is not None and path not in pack.secretless_webhooks:
            action.options["secret"] = present.get(path) or secrets.token_urlsafe(SECRET_BYTES)

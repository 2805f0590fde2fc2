"""Prompt URLs: ``{% prompt STATUS %}`` renders one; opening it drives the story on.

The URL names the incoming event, its story run and the action that rendered it, and
carries an HMAC over all of them and the status, so nobody can forge a click for
another event, action or status. The story run is signed too because SQLite may hand
the id of a purged event to a new one: an old link must not answer a stranger's run.

The key is the master key's ``prompts`` sub-key (``keys.derive``): what the secret key
protects, credentials and prompt links, has one home.

``storyline.web.prompts`` answers the URL.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Prompt:
    """What a prompt URL names, once its signature checks out."""

    event_id: int
    action_id: int
    story_run: str
    status: str


def signature(key: bytes, event_id: int, action_id: int, story_run: str, status: str) -> str:
    message = f"{event_id}:{action_id}:{story_run}:{status}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def prompt_url(public_url: str, key: bytes, event_id: int, action_id: int, story_run: str, status: str) -> str:
    query = urlencode({"e": event_id, "a": action_id, "r": story_run, "s": status,
                       "sig": signature(key, event_id, action_id, story_run, status)})
    return f"{public_url}/prompt?{query}"


def verify(key: bytes, params: Mapping[str, str]) -> Prompt | None:
    """The prompt a URL's query names, or None when anything is missing or tampered with."""
    try:
        prompt = Prompt(int(params["e"]), int(params["a"]), params["r"], params["s"])
        sig = params["sig"]
    except (KeyError, ValueError):
        return None
    expected = signature(key, prompt.event_id, prompt.action_id, prompt.story_run, prompt.status)
    return prompt if hmac.compare_digest(expected.encode(), sig.encode()) else None

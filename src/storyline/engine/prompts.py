"""Prompt URLs: ``{% prompt STATUS %}`` renders one; opening it drives the story on.

The URL names the incoming event and the action that rendered it, and carries an
HMAC over both and the status, so nobody can forge a click for another event,
action or status.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode


def signature(key: bytes, event_id: int, action_id: int, status: str) -> str:
    message = f"{event_id}:{action_id}:{status}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def prompt_url(public_url: str, key: bytes, event_id: int, action_id: int, status: str) -> str:
    query = urlencode({"e": event_id, "a": action_id, "s": status, "sig": signature(key, event_id, action_id, status)})
    return f"{public_url}/prompt?{query}"


def verify(key: bytes, event_id: int, action_id: int, status: str, sig: str) -> bool:
    return hmac.compare_digest(signature(key, event_id, action_id, status), sig)

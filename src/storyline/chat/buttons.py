"""The buttons of a bot's message, and what clicking each sends back to the bot.

One home for reading buttons out of a Slack message (Block Kit ``actions`` blocks and section
accessories) and a Teams activity (Adaptive Card ``actions``, and ``ActionSet`` elements at any
depth of the card's body), and for building the request a click makes. The terminal consoles
(``storyline chat slack|teams``) print them; a browser playground can draw and click the same
:class:`Button` values.

The API:

* :func:`slack_buttons` (a Slack message) and :func:`teams_buttons` (a Teams activity or card)
  list the :class:`Button` values in the order a person sees them;
* :func:`slack_click` is the ``block_actions`` payload Slack posts to the Interactivity URL when
  a button is clicked; :attr:`Button.sends` is what a Teams ``Action.Submit`` click delivers as
  the activity's ``value`` (build the activity with ``standins.botframework.channel_message``);
* :meth:`Button.console_flags` is what the terminal console takes to click it.

A link button (``url``) sends nothing to the bot: the browser opens it (a ``{% prompt %}`` link
answers the prompt there).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Platform = Literal["slack", "teams"]

MAX_DEPTH = 32
"""Cards nest containers in containers; deeper than this is not a card a person would read."""


@dataclass(frozen=True)
class Button:
    """One button as a person sees it, and what clicking it sends.

    ``sends`` is the Teams ``Action.Submit`` data, or the Slack button's ``value``; ``action_id``
    is Slack's (None on Teams); ``url`` is set for link buttons, which send nothing to the bot.
    """

    platform: Platform
    label: str
    kind: str
    sends: Any = None
    action_id: str | None = None
    url: str | None = None
    style: str | None = None

    @property
    def clickable(self) -> bool:
        """Whether a click reaches the bot (link buttons open a browser instead)."""
        return self.url is None and (self.platform == "slack" or self.kind == "Action.Submit")

    def console_flags(self) -> str:
        """The options of ``storyline chat slack|teams`` that click this button, quoted for a shell."""
        if self.platform == "teams":
            return "--value " + shlex.quote(json.dumps(self.sends, separators=(",", ":")))
        flags = "--click " + shlex.quote(self.action_id or "")
        if self.sends is not None:
            flags += " --value " + shlex.quote(str(self.sends))
        return flags

    def describe(self) -> str:
        """One line for a terminal: the label, then the link it opens or the flags that click it."""
        if self.url:
            return f"[{self.label}] -> {self.url}"
        if not self.clickable:
            return f"[{self.label}] ({self.kind}: the console cannot click it)"
        return f"[{self.label}] click: {self.console_flags()}"


# -- Slack --------------------------------------------------------------------------------------------


def slack_buttons(message: Mapping[str, Any]) -> list[Button]:
    """Every button of a Slack message: ``actions`` blocks' buttons and section accessories."""
    blocks = message.get("blocks")
    if isinstance(blocks, str):  # a story may post its blocks as JSON text, as Slack accepts
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return []
    found: list[Button] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Mapping):
            continue
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        elements.append(block.get("accessory"))
        found.extend(slack_button(e) for e in elements if isinstance(e, Mapping) and e.get("type") == "button")
    return found


def slack_button(element: Mapping[str, Any]) -> Button:
    """One Block Kit button element."""
    text = element.get("text")
    label = str(text.get("text") if isinstance(text, Mapping) else text or element.get("action_id") or "button")
    action_id = element.get("action_id")
    return Button("slack", label, "button", sends=element.get("value"),
                  action_id=str(action_id) if action_id is not None else None,
                  url=str(element["url"]) if element.get("url") else None,
                  style=str(element["style"]) if element.get("style") else None)


def slack_click(
    action_id: str, value: str | None, *, user_id: str, user_name: str, team_id: str, channel_id: str,
    response_url: str, label: str = "", message: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack posts (as the form field ``payload``) for a button click."""
    now = f"{time.time():.6f}"
    action: dict[str, Any] = {"type": "button", "action_id": action_id, "block_id": "console",
                              "text": {"type": "plain_text", "text": label or action_id}, "action_ts": now}
    if value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions", "user": {"id": user_id, "username": user_name, "team_id": team_id},
        "team": {"id": team_id}, "channel": {"id": channel_id},
        "container": {"type": "message", "channel_id": channel_id, "message_ts": now},
        "trigger_id": f"{int(time.time())}.console", "response_url": response_url, "actions": [action],
    }
    if message is not None:
        payload["message"] = dict(message)
    return payload


# -- Teams --------------------------------------------------------------------------------------------


def teams_buttons(activity: Mapping[str, Any]) -> list[Button]:
    """Every button of a Teams activity's Adaptive Cards (or of one card given alone)."""
    cards = [activity] if activity.get("type") == "AdaptiveCard" else [
        a.get("content") for a in activity.get("attachments") or [] if isinstance(a, Mapping)]
    return [b for card in cards if isinstance(card, Mapping) for b in _card_buttons(card, 0)]


def _card_buttons(element: Mapping[str, Any], depth: int) -> Iterator[Button]:
    if depth > MAX_DEPTH:
        return
    for child in _children(element):
        yield from _card_buttons(child, depth + 1)
    for action in element.get("actions") or []:
        if isinstance(action, Mapping):
            yield teams_button(action)
    select = element.get("selectAction")
    if isinstance(select, Mapping):
        yield teams_button(select)


def _children(element: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("body", "items", "columns"):
        for child in element.get(key) or []:
            if isinstance(child, Mapping):
                yield child


def teams_button(action: Mapping[str, Any]) -> Button:
    """One Adaptive Card action (``Action.Submit``, ``Action.OpenUrl``, ``Action.Execute``, ...)."""
    kind = str(action.get("type") or "Action.Submit")
    url = action.get("url")
    return Button("teams", str(action.get("title") or kind), kind, sends=action.get("data", {}) if
                  kind == "Action.Submit" else None, url=str(url) if url else None,
                  style=str(action["style"]) if action.get("style") else None)

"""The buttons of a bot's message, and what clicking each sends back to the bot.

The one home for what a click sends: reading buttons out of a Slack message (Block Kit
``actions`` blocks and section accessories) and a Teams activity (Adaptive Card ``actions``,
and ``ActionSet`` elements at any depth of the card's body), and building the request a click
makes. The terminal consoles (``storyline chat slack|teams``) print and click them; the
playground (:mod:`storyline.chat.cards`) draws each element it reads with the :class:`Button`
made here, and clicks that.

The API:

* :func:`slack_buttons` (a Slack message) and :func:`teams_buttons` (a Teams activity or card)
  list the :class:`Button` values in the order a person sees them; :func:`slack_button` and
  :func:`teams_button` read one element;
* :meth:`Button.slack_action` is the action Slack reports for a click, and :func:`slack_click`
  the ``block_actions`` payload Slack posts to the Interactivity URL; :attr:`Button.sends` is
  what a Teams ``Action.Submit`` click delivers as the activity's ``value`` (build the activity
  with ``standins.botframework.channel_message``);
* :meth:`Button.console_flags` is what the terminal console takes to click it, and
  :func:`slack_flagged` the button those flags name.

A Slack link button (``url``) opens the browser and still sends ``block_actions``, as Slack
does; a Teams ``Action.OpenUrl`` sends nothing to the bot (a ``{% prompt %}`` link answers the
prompt there).
"""

from __future__ import annotations

import json
import secrets
import shlex
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Platform = Literal["slack", "teams"]

MAX_DEPTH = 32
"""Cards nest containers in containers; deeper than this is not a card a person would read."""
MAX_TEXT = 3000
"""Characters of an action_id, value, label or URL kept: Slack allows 2,000 at most in any of them."""


@dataclass(frozen=True)
class Button:
    """One button as a person sees it, and what clicking it sends.

    ``sends`` is the Teams ``Action.Submit`` data, or the Slack button's ``value``; ``action_id``
    and ``block_id`` are Slack's (None on Teams); ``url`` is set for link buttons.
    """

    platform: Platform
    label: str
    kind: str
    sends: Any = None
    action_id: str | None = None
    url: str | None = None
    style: str | None = None
    block_id: str | None = None

    @property
    def clickable(self) -> bool:
        """Whether a click reaches the bot: any Slack button (a link one too), a Teams ``Action.Submit``."""
        return self.platform == "slack" or self.kind == "Action.Submit"

    def slack_action(self) -> dict[str, Any]:
        """The action Slack reports in ``block_actions`` when this button is clicked (without ``action_ts``)."""
        action: dict[str, Any] = {"type": "button", "block_id": self.block_id or "console",
                                  "action_id": self.action_id or "",
                                  "text": {"type": "plain_text", "text": self.label, "emoji": True}}
        if self.sends is not None:
            action["value"] = str(self.sends)
        if self.url is not None:
            action["url"] = self.url
        return action

    def console_flags(self) -> str:
        """The options of ``storyline chat slack|teams`` that click this button, quoted for a shell.

        Slack's are the action_id and value only: the console clicks as :func:`slack_flagged`."""
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
        block_id = _bounded(block.get("block_id"))
        found.extend(slack_button(e, block_id) for e in elements if isinstance(e, Mapping) and e.get("type") == "button")
    return found


def slack_button(element: Mapping[str, Any], block_id: str | None = None) -> Button:
    """One Block Kit button element (of the block ``block_id``)."""
    text = element.get("text")
    label = str(text.get("text") if isinstance(text, Mapping) else text or element.get("action_id") or "button")
    return Button("slack", label[:MAX_TEXT], "button", sends=_bounded(element.get("value")),
                  action_id=_bounded(element.get("action_id")), url=_bounded(element.get("url") or None),
                  style=str(element["style"]) if element.get("style") else None, block_id=block_id)


def _bounded(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_TEXT]


def slack_flagged(action_id: str, value: str | None) -> Button:
    """The button the console's ``--click ACTION_ID [--value V]`` names (its label: the action_id)."""
    return Button("slack", action_id, "button", sends=value, action_id=action_id)


def slack_click(
    button: Button, *, user_id: str, user_name: str, team_id: str, channel_id: str, response_url: str,
    message: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack posts (as the form field ``payload``) when ``button`` is clicked.

    ``message`` is the message the button is on, as the bot sent it (Slack sends it back).
    """
    now = time.time()
    message_ts = str((message or {}).get("ts") or "")
    payload: dict[str, Any] = {
        "type": "block_actions", "api_app_id": "ACONSOLE",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "team": {"id": team_id, "domain": "console"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "channel": {"id": channel_id, "name": "console"},
        "response_url": response_url,
        "trigger_id": f"{int(now)}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
        "actions": [{**button.slack_action(), "action_ts": f"{now:.6f}"}],
    }
    if message is not None:
        payload["message"] = {"type": "message", "ts": message_ts,
                              **{k: message[k] for k in ("text", "blocks", "attachments") if k in message}}
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
    data = action.get("data")
    return Button("teams", str(action.get("title") or kind)[:MAX_TEXT], kind,
                  sends=(data if data is not None else {}) if kind == "Action.Submit" else None,
                  url=_bounded(action.get("url") or None), style=str(action["style"]) if action.get("style") else None)

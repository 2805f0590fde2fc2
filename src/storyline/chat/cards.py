"""A bot's Slack message or Teams activity as a person sees it: blocks of text, facts and buttons.

The playground draws these (``storyline.web.console``). The JSON is whatever a story sent,
so everything here is read defensively and bounded: text stays text (the page escapes it and
only ever adds fixed markup around it), a link is kept only when it is ``http(s)`` (a
``javascript:`` URL is shown as text, never made a link), and style names come from fixed
tables, never from the JSON. What clicking a :class:`Button` sends is its ``press``, read
by :mod:`storyline.chat.buttons` (the one home of that, shared with the terminal consoles):
the ``block_actions`` request Slack makes (:func:`storyline.chat.slack_console.click`), an
``Action.Submit``'s data for the Teams activity
(:func:`storyline.chat.teams_console.console_activity`), or nothing but a URL to open.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from storyline.chat import buttons as pressed

MAX_BLOCKS = 100
MAX_ITEMS = 50
"""Elements, fields, facts, columns or actions read from one block."""
MAX_TEXT = 3000
MAX_DEPTH = 6
MAX_JSON = 200_000
"""Bytes of a ``blocks`` field sent as a JSON string that are parsed."""


@dataclass(frozen=True)
class Span:
    """A run of text with its emphasis; ``href`` is an http(s) URL or None."""

    text: str
    bold: bool = False
    italic: bool = False
    strike: bool = False
    code: bool = False
    href: str | None = None


Text = tuple[Span, ...]


@dataclass(frozen=True)
class Button:
    """A button as drawn; ``index`` numbers it within its message, which is how a click names it."""

    index: int
    label: str
    press: pressed.Button
    """What clicking it sends (:mod:`storyline.chat.buttons`)."""
    style: str = ""
    """``primary``, ``danger`` or nothing."""
    url: str | None = None
    """Opened in the browser when clicked (http(s) only)."""
    unsafe_url: str = ""
    """A URL that is not http(s): shown as text, never opened."""

    @property
    def sends(self) -> bool:
        """Whether a click reaches the bot (a Slack link button's does too, as in Slack)."""
        return self.press.clickable

    @property
    def slack(self) -> Mapping[str, Any] | None:
        """The action Slack reports in ``block_actions`` (``actions[0]``, without ``action_ts``)."""
        return self.press.slack_action() if self.press.platform == "slack" else None

    @property
    def submit(self) -> Any:
        """An ``Action.Submit``'s data: the ``value`` of the activity Teams sends."""
        return self.press.sends if self.press.platform == "teams" and self.sends else None


@dataclass(frozen=True)
class Block:
    """One row of a message: ``kind`` is text, header, fields, context, divider, buttons, facts, columns or note."""

    kind: str
    text: Text = ()
    fields: tuple[Text, ...] = ()
    facts: tuple[tuple[str, Text], ...] = ()
    columns: tuple[tuple[Block, ...], ...] = ()
    buttons: tuple[Button, ...] = ()
    tones: tuple[str, ...] = ()
    """From :data:`TONES` only: bold, subtle, large, attention, warning, good, accent."""


@dataclass(frozen=True)
class Card:
    blocks: tuple[Block, ...]
    buttons: tuple[Button, ...]

    def button(self, index: int) -> Button | None:
        return self.buttons[index] if 0 <= index < len(self.buttons) else None


@dataclass
class _Buttons:
    made: list[Button] = field(default_factory=list)

    def add(self, label: str, **what: Any) -> Button:
        button = Button(len(self.made), label[:75] or "button", **what)
        self.made.append(button)
        return button


# -- text ----------------------------------------------------------------------------------------

EMOJI = {
    "red_circle": "\U0001f534", "large_orange_circle": "\U0001f7e0", "large_green_circle": "\U0001f7e2",
    "white_circle": "\u26aa", "large_yellow_circle": "\U0001f7e1", "warning": "\u26a0\ufe0f",
    "white_check_mark": "\u2705", "x": "\u274c", "rotating_light": "\U0001f6a8", "lock": "\U0001f512",
    "mag": "\U0001f50d", "shield": "\U0001f6e1\ufe0f", "bell": "\U0001f514", "no_entry": "\u26d4",
    "heavy_check_mark": "\u2714\ufe0f", "information_source": "\u2139\ufe0f", "tada": "\U0001f389",
}

_SLACK = re.compile(
    r"<(?P<angle>[^<>\n]{1,3000})>|```(?P<pre>.+?)```|`(?P<code>[^`\n]+)`|(?<!\w)\*(?P<bold>[^*\n]+)\*(?!\w)"
    r"|(?<!\w)_(?P<italic>[^_\n]+)_(?!\w)|(?<!\w)~(?P<strike>[^~\n]+)~(?!\w)|:(?P<emoji>[a-z0-9_+\-]{1,40}):",
    re.S)
_MARKDOWN = re.compile(
    r"\*\*(?P<bold>[^*\n]+)\*\*|(?<!\w)_(?P<italic>[^_\n]+)_(?!\w)|`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]{1,500})\]\((?P<url>[^)\s]{1,3000})\)")


def safe_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host and no spaces or control characters."""
    if not isinstance(value, str) or len(value) > MAX_TEXT or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def _clip(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _unescape(text: str) -> str:
    """Slack escapes these three in message text; the page escapes again when it draws the span."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain(text: Any, *, emoji: bool = True) -> Text:
    text = _clip(text)
    if emoji:
        text = re.sub(r":([a-z0-9_+\-]{1,40}):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return (Span(text),) if text else ()


def mrkdwn(text: Any) -> Text:
    """Slack's mrkdwn: *bold*, _italic_, ~strike~, `code`, <url|label>, <@user>, <#channel|name>, :emoji:."""
    text = _clip(text)
    spans: list[Span] = []
    at = 0
    for match in _SLACK.finditer(text):
        if match.start() > at:
            spans.append(Span(_unescape(text[at:match.start()])))
        at = match.end()
        kind = match.lastgroup
        inner = match.group(kind or 0)
        if kind == "angle":
            spans.append(_angle(inner))
        elif kind in ("pre", "code"):
            spans.append(Span(_unescape(inner), code=True))
        elif kind == "emoji":
            spans.append(Span(EMOJI.get(inner, match.group(0))))
        else:
            spans.append(Span(_unescape(inner), bold=kind == "bold", italic=kind == "italic", strike=kind == "strike"))
    if at < len(text):
        spans.append(Span(_unescape(text[at:])))
    return tuple(spans)


def _angle(inner: str) -> Span:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return Span("@" + (label or target[1:]), bold=True)
    if target.startswith("#"):
        return Span("#" + (label or target[1:]), bold=True)
    if target.startswith("!"):
        return Span("@" + (label or target[1:].split("^")[0]), bold=True)
    target = _unescape(target)
    return Span(_unescape(label) or target, href=safe_url(target))


def markdown(text: Any) -> Text:
    """The Markdown subset Teams draws in a TextBlock or a message: **bold**, _italic_, `code`, [label](url)."""
    text = _clip(text)
    spans: list[Span] = []
    at = 0
    for match in _MARKDOWN.finditer(text):
        if match.start() > at:
            spans.append(Span(text[at:match.start()]))
        at = match.end()
        if match.group("label") is not None:
            spans.append(Span(match.group("label"), href=safe_url(match.group("url"))))
        elif match.group("bold") is not None:
            spans.append(Span(match.group("bold"), bold=True))
        elif match.group("italic") is not None:
            spans.append(Span(match.group("italic"), italic=True))
        else:
            spans.append(Span(match.group("code"), code=True))
    if at < len(text):
        spans.append(Span(text[at:]))
    return tuple(spans)


def _items(value: Any, limit: int = MAX_ITEMS) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value[:limit] if isinstance(item, Mapping))


def _note(text: str) -> Block:
    return Block("note", plain(text, emoji=False))


# -- Slack -----------------------------------------------------------------------------------------


def slack_message(message: Mapping[str, Any]) -> Card:
    """A Slack message (``chat.postMessage`` arguments, a ``response_url`` body) as its blocks and buttons."""
    buttons = _Buttons()
    blocks: list[Block] = []
    raw = message.get("blocks")
    if isinstance(raw, str) and len(raw) <= MAX_JSON:
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    for number, block in enumerate(_items(raw, MAX_BLOCKS)):
        blocks.extend(_slack_block(block, number, buttons))
    if not blocks and message.get("text"):
        blocks.append(Block("text", mrkdwn(message.get("text"))))
    for attachment in _items(message.get("attachments"), 20):
        if attachment.get("title"):
            blocks.append(Block("header", plain(attachment.get("title"))))
        if attachment.get("text") or (attachment.get("fallback") and not attachment.get("blocks")):
            blocks.append(Block("text", mrkdwn(attachment.get("text") or attachment.get("fallback"))))
        facts = tuple((_clip(f.get("title")), mrkdwn(f.get("value"))) for f in _items(attachment.get("fields")))
        if facts:
            blocks.append(Block("facts", facts=facts))
        for number, block in enumerate(_items(attachment.get("blocks"), MAX_BLOCKS)):
            blocks.extend(_slack_block(block, number, buttons))
    return Card(tuple(blocks), tuple(buttons.made))


def _slack_text(obj: Any) -> Text:
    if isinstance(obj, str):
        return mrkdwn(obj)
    if not isinstance(obj, Mapping):
        return ()
    if obj.get("type") == "mrkdwn" and not obj.get("verbatim"):
        return mrkdwn(obj.get("text"))
    return plain(obj.get("text"), emoji=obj.get("emoji", True) is not False)


def _slack_block(block: Mapping[str, Any], number: int, buttons: _Buttons) -> list[Block]:
    kind = block.get("type")
    block_id = _clip(block.get("block_id")) or f"b{number}"
    if kind == "section":
        made = []
        if block.get("text"):
            made.append(Block("text", _slack_text(block.get("text"))))
        fields = tuple(_slack_text(f) for f in _items(block.get("fields"), 10))
        if fields:
            made.append(Block("fields", fields=fields))
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping):
            made.append(_slack_elements([accessory], block_id, buttons))
        return made
    if kind == "header":
        return [Block("header", _slack_text(block.get("text")))]
    if kind == "context":
        spans: list[Span] = []
        for element in _items(block.get("elements"), 10):
            if spans:
                spans.append(Span("  "))
            spans.extend(_slack_text(element) if element.get("type") != "image"
                         else plain(f"[{_clip(element.get('alt_text')) or 'image'}]"))
        return [Block("context", tuple(spans))]
    if kind == "divider":
        return [Block("divider")]
    if kind == "actions":
        return [_slack_elements(list(_items(block.get("elements"), 25)), block_id, buttons)]
    if kind == "image":
        return [_note(f"[image: {_clip(block.get('alt_text')) or _clip(block.get('title')) or 'image'}]")]
    return [_note(f"[a {str(kind)[:40]} block, which the playground does not draw]")]


def _slack_elements(elements: list[Any], block_id: str, buttons: _Buttons) -> Block:
    made = []
    others = []
    for element in elements:
        if not isinstance(element, Mapping):
            continue
        if element.get("type") != "button":
            others.append(str(element.get("type"))[:40])
            continue
        label = "".join(span.text for span in _slack_text(element.get("text")))
        url = element.get("url")
        made.append(buttons.add(label, press=pressed.slack_button(element, block_id), style=_style(element.get("style")),
                                url=safe_url(url), unsafe_url="" if url is None or safe_url(url) else _clip(url)[:200]))
    if others and not made:
        return _note(f"[{', '.join(others)}: not drawn by the playground]")
    return Block("buttons", buttons=tuple(made))


def _style(value: Any) -> str:
    return {"primary": "primary", "danger": "danger", "positive": "primary",
            "destructive": "danger"}.get(str(value), "")


# -- Teams -----------------------------------------------------------------------------------------

_COLORS = {"attention": "attention", "warning": "warning", "good": "good", "accent": "accent"}
TONES = ("bold", "subtle", "large", "attention", "warning", "good", "accent")


def teams_activity(activity: Mapping[str, Any]) -> Card:
    """A bot's Teams message: its text (Markdown) and its Adaptive Cards; other attachments are named."""
    buttons = _Buttons()
    blocks: list[Block] = []
    if activity.get("text"):
        text = activity.get("text")
        blocks.append(Block("text", plain(text) if activity.get("textFormat") == "plain" else markdown(text)))
    for attachment in _items(activity.get("attachments"), 10):
        content = attachment.get("content")
        if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive" and isinstance(content, Mapping):
            blocks.extend(_adaptive(content, buttons))
        else:
            blocks.append(_note(f"[a {str(attachment.get('contentType'))[:60]} attachment, "
                                "which the playground does not draw]"))
    return Card(tuple(blocks), tuple(buttons.made))


def _adaptive(card: Mapping[str, Any], buttons: _Buttons) -> list[Block]:
    blocks = _elements(card.get("body"), buttons, 0)
    actions = _actions(card.get("actions"), buttons)
    if actions.buttons or actions.kind == "note":
        blocks.append(actions)
    return blocks


def _elements(value: Any, buttons: _Buttons, depth: int) -> list[Block]:
    blocks: list[Block] = []
    if depth > MAX_DEPTH:
        return [_note("[nested too deep]")]
    for element in _items(value, MAX_BLOCKS):
        if element.get("separator") is True and blocks:
            blocks.append(Block("divider"))
        kind = element.get("type")
        if kind == "TextBlock":
            blocks.append(Block("text", markdown(element.get("text")), tones=_tones(element)))
        elif kind == "RichTextBlock":
            spans = tuple(Span(_clip(run.get("text")), bold=run.get("weight") == "Bolder",
                               italic=run.get("italic") is True) for run in _items(element.get("inlines")))
            blocks.append(Block("text", spans, tones=_tones(element)))
        elif kind == "FactSet":
            facts = tuple((_clip(f.get("title")), markdown(f.get("value"))) for f in _items(element.get("facts")))
            blocks.append(Block("facts", facts=facts))
        elif kind == "ColumnSet":
            columns = tuple(tuple(_elements(column.get("items"), buttons, depth + 1))
                            for column in _items(element.get("columns"), 12))
            blocks.append(Block("columns", columns=columns))
        elif kind == "Container":
            blocks.extend(_elements(element.get("items"), buttons, depth + 1))
        elif kind == "ActionSet":
            blocks.append(_actions(element.get("actions"), buttons))
        elif kind == "Image":
            blocks.append(_note(f"[image: {_clip(element.get('altText')) or 'image'}]"))
        else:
            blocks.append(_note(f"[{str(kind)[:40]}: not drawn by the playground]"))
    return blocks


def _tones(element: Mapping[str, Any]) -> tuple[str, ...]:
    tones = []
    if element.get("weight") == "Bolder":
        tones.append("bold")
    if element.get("isSubtle") is True:
        tones.append("subtle")
    if element.get("size") in ("Large", "ExtraLarge"):
        tones.append("large")
    color = _COLORS.get(str(element.get("color")).lower())
    if color:
        tones.append(color)
    return tuple(tones)


def _actions(value: Any, buttons: _Buttons) -> Block:
    made = []
    others = []
    for action in _items(value, 25):
        kind = action.get("type")
        title = _clip(action.get("title"))
        if kind == "Action.Submit":
            made.append(buttons.add(title, press=pressed.teams_button(action), style=_style(action.get("style"))))
        elif kind == "Action.OpenUrl":
            url = action.get("url")
            made.append(buttons.add(title, press=pressed.teams_button(action), style=_style(action.get("style")),
                                    url=safe_url(url), unsafe_url="" if safe_url(url) else _clip(url)[:200]))
        else:
            others.append(f"{str(kind)[:40]} {title}".strip())
    if others and not made:
        return _note(f"[{', '.join(others)}: not drawn by the playground]")
    return Block("buttons", buttons=tuple(made))

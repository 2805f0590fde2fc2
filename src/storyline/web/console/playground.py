"""``/playground``: talk to the demo's chatbots as a Slack or a Teams user, in the browser.

What you type is sent the way the chat consoles send it (``storyline chat slack|teams``): a
slash command signed with the Slack webhook's signing secret, or a Bot Connector activity
signed with the key the sandbox's Bot Framework publishes, handed to the webhook intake
exactly as an HTTP request would be (so verification, rules and rate limits all apply).
The bot's answers are what the sandbox's stand-ins received (their outbox, as
``/_sandbox/messages`` shows it), drawn from :mod:`storyline.chat.cards`; clicking a
button sends what Slack or Teams would: a signed ``block_actions`` request, an
``Action.Submit`` activity, or the browser opens the button's link (a prompt link included).

The playground works only with the sandbox (``serve --demo``): there it is open to anyone on
the demo's server, as the sandbox is; elsewhere the bot's answers go to the real Slack or
Teams, so the page needs an editor's login and only says to start ``serve --demo``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from storyline.actions.base import ActionSpec, render_option
from storyline.chat import slack_console, teams_console
from storyline.chat.cards import Card, slack_message, teams_activity
from storyline.engine import intake
from storyline.engine.service import Service
from storyline.operations.errors import Conflict, Forbidden, Invalid, NotFound
from storyline.standins.botframework import ConnectorKey, console_key_path
from storyline.standins.outbox import Outbox
from storyline.verifiers.slack import sign
from storyline.web.templates import fragment, render

PLATFORMS = {"slack": "Slack", "teams": "Teams"}
SHOWN = 40
"""Turns of each conversation shown (the newest)."""
MAX_FORM_BYTES = 16_384
MAX_TEXT = 2000
MAX_USER = 40
FETCHED = "x-playground"
"""Header the page's script sends: answer 204 instead of redirecting back to the page."""
SLACK_VIA = {"message": "chat.postMessage", "update": "chat.update (edits an earlier message)",
             "ephemeral": "chat.postEphemeral (only you see this)", "webhook": "incoming webhook",
             "response": "response_url"}
TEAMS_VIA = {"message": "Bot Connector", "update": "Bot Connector (updates an earlier card)",
             "webhook": "Workflows webhook"}


@dataclass(frozen=True)
class Hook:
    """A webhook that verifies Slack or Teams requests, at ``/webhook/<path>``."""

    path: str
    action: ActionSpec

    @property
    def label(self) -> str:
        return f"{self.action.story_name} / {self.action.name}"


@dataclass(frozen=True)
class Turn:
    """One line of a conversation: you said or clicked something, the bot answered, or a note on how it went."""

    key: str
    platform: str
    who: str
    at: float
    via: str = ""
    text: str = ""
    card: Card | None = None
    message: Mapping[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.at))


class Playground:
    """The conversations: what was said here (kept in memory) and what the bot said to the stand-ins (the outbox)."""

    def __init__(self, service: Service, outbox: Outbox) -> None:
        self.service = service
        self.outbox = outbox
        self._said: deque[Turn] = deque(maxlen=4 * SHOWN)
        self._numbers = itertools.count(1)
        self._key: ConnectorKey | None = None

    # -- what is shown --------------------------------------------------------------------------

    def turns(self, platform: str) -> list[Turn]:
        bot = [turn for entry in self.outbox.after(0) if (turn := _from_outbox(entry)).platform == platform]
        said = [turn for turn in self._said if turn.platform == platform]
        return sorted(bot + said, key=lambda turn: turn.at)[-SHOWN:]

    def version(self, platform: str) -> str:
        """Changes whenever the conversation does (without drawing it): the page's script polls this."""
        bot = max((entry["seq"] for entry in self.outbox.after(0) if entry.get("platform") == platform), default=0)
        said = next((turn.key for turn in reversed(self._said) if turn.platform == platform), "p0")
        return f"o{bot}.{said}"

    def turn(self, key: str) -> Turn | None:
        if key.startswith("o") and key[1:].isdigit():
            seq = int(key[1:])
            found = self.outbox.after(seq - 1)
            return _from_outbox(found[0]) if found and found[0]["seq"] == seq else None
        return next((turn for turn in self._said if turn.key == key), None)

    def _note(self, platform: str, who: str, text: str = "", *, via: str = "", card: Card | None = None,
              message: Mapping[str, Any] | None = None) -> None:
        self._said.append(Turn(f"p{next(self._numbers)}", platform, who, time.time(), via, text, card,
                               message or {}))

    # -- the webhooks a conversation reaches ------------------------------------------------------

    async def hooks(self, platform: str) -> list[Hook]:
        catalog = await self.service.catalogs.get()
        found = [Hook(path, action) for path, action in catalog.webhooks.items()
                 if isinstance(spec := action.options.get("verification"), Mapping) and spec.get("type") == platform]
        return sorted(found, key=lambda hook: (hook.action.story_name, hook.action.name))

    async def hook(self, platform: str, path: str) -> Hook:
        hooks = await self.hooks(platform)
        if not hooks:
            raise Conflict(f"no story has a webhook that verifies {PLATFORMS[platform]} requests; "
                           "`storyline pack install security-chatbot` adds one")
        chosen = next((hook for hook in hooks if hook.path == path), None)
        return chosen or hooks[0]

    async def _option(self, hook: Hook, name: str) -> str:
        """A verification option rendered as the intake renders it (credentials, resources) to check a request."""
        await self.service.runtime.prepare(hook.action)
        context = self.service.runtime.context(hook.action, {}, "", time.time())
        value = render_option(context, hook.action.options["verification"].get(name, ""), f"verification.{name}")
        return str(value[0] if isinstance(value, list) and value else value)

    async def _connector_key(self) -> ConnectorKey:
        if self._key is None:
            self._key = await asyncio.to_thread(ConnectorKey.load_or_create, console_key_path())
        return self._key

    # -- saying and clicking ----------------------------------------------------------------------

    async def say(self, platform: str, text: str, user: str, path: str) -> None:
        hook = await self.hook(platform, path)
        self._note(platform, "you", text, via=user)
        if platform == "slack":
            content_type, body = slack_console.request(text, user)
            await self._send_slack(hook, content_type, body)
        else:
            await self._send_teams(hook, text, user)

    async def click(self, key: str, index: int, user: str, path: str) -> str | None:
        """Click button ``index`` of turn ``key`` as ``user``; the URL the browser is to open, if any."""
        turn = self.turn(key)
        button = turn.card.button(index) if turn is not None and turn.card is not None else None
        if turn is None or button is None:
            raise NotFound("no such button: the message has left the playground's history")
        if button.sends:
            self._note(turn.platform, "you", f"clicked \u201c{button.label}\u201d", via=user)
            hook = await self.hook(turn.platform, path)
            if turn.platform == "slack":
                content_type, body = slack_console.click(
                    button.press, user, message=turn.message,
                    channel=str(turn.message.get("channel") or slack_console.CONSOLE_CHANNEL))
                await self._send_slack(hook, content_type, body)
            else:
                await self._send_teams(hook, "", user, value=button.press.sends)
        return button.url

    async def _send_slack(self, hook: Hook, content_type: str, body: bytes) -> None:
        secret = await self._option(hook, "signing_secret")
        reply = await _deliver(self.service, hook, {"content-type": content_type, **sign(secret, body)}, body)
        if reply.status >= 300:
            self._note("slack", "note", _refusal(reply))
        elif reply.content not in (None, ""):
            message = _message(reply.content)
            self._note("slack", "bot", via="the webhook's answer", card=slack_message(message), message=message)

    async def _send_teams(self, hook: Hook, text: str, user: str, *, value: Any = None) -> None:
        app_id = await self._option(hook, "app_id")
        activity = teams_console.console_activity(text, app_id, user=user, value=value)
        token = (await self._connector_key()).sign(app_id, teams_console.CONSOLE_SERVICE_URL)
        body = json.dumps(activity).encode()
        reply = await _deliver(self.service, hook, {"content-type": "application/json",
                                                    "authorization": f"Bearer {token}"}, body)
        if reply.status >= 300:
            self._note("teams", "note", _refusal(reply))


async def _deliver(service: Service, hook: Hook, headers: dict[str, str], body: bytes) -> intake.Reply:
    """Hand the request to the webhook intake, as the HTTP route would."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return await intake.receive(service, intake.Delivery(
        path=hook.path, secret=str(hook.action.options.get("secret") or ""), method="POST",
        headers=Headers({**headers, "content-length": str(len(body))}), query={}, body=chunks()))


def _refusal(reply: intake.Reply) -> str:
    content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    return f"the webhook answered HTTP {reply.status}: {str(content)[:300]}"


def _message(content: Any) -> Mapping[str, Any]:
    """A webhook's immediate answer as Slack reads it: a JSON message, else text."""
    if isinstance(content, Mapping):
        return content
    try:
        parsed = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"text": str(content)}


def _from_outbox(entry: Mapping[str, Any]) -> Turn:
    platform, kind = str(entry.get("platform")), str(entry.get("kind"))
    if platform == "slack":
        return Turn(f"o{entry['seq']}", platform, "bot", float(entry["at"]), SLACK_VIA.get(kind, kind),
                    card=slack_message(entry), message=entry)
    return Turn(f"o{entry['seq']}", platform, "bot", float(entry["at"]), TEAMS_VIA.get(kind, kind),
                card=teams_activity(entry), message=entry)


# -- HTTP -----------------------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    """The posted form, refused past :data:`MAX_FORM_BYTES` (the page sends a line of text)."""
    received = b""
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_FORM_BYTES:
            raise Invalid(f"the form is larger than {MAX_FORM_BYTES} bytes")
    return dict(parse_qsl(received.decode("utf-8", "replace"), keep_blank_values=True))


def _same_origin(request: Request) -> None:
    """A form posted from another site (a page the visitor opened) must not speak as them: 403."""
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
            origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")):
        raise Forbidden("the playground takes forms from its own page only")


def _platform(request: Request) -> str:
    platform = str(request.path_params.get("platform"))
    if platform not in PLATFORMS:
        raise NotFound(f"no playground for {platform[:40]!r}: there are {', '.join(PLATFORMS)}")
    return platform


def _user(form: Mapping[str, str]) -> str:
    user = " ".join(form.get("user", "").split())[:MAX_USER]
    return user or "ana"


def _back(request: Request, platform: str, url: str | None = None) -> Response:
    if request.headers.get(FETCHED):
        return Response(status_code=204)
    return RedirectResponse(url or f"/playground#{platform}", status_code=303)


class Pages:
    """The playground's endpoints; ``playground`` is None when the server has no sandbox."""

    def __init__(self, playground: Playground | None) -> None:
        self.playground = playground

    def _needed(self) -> Playground:
        if self.playground is None:
            raise Conflict("the playground talks to the demo's stand-ins for Slack and Teams: "
                           "start the server with `storyline serve --demo`")
        return self.playground

    async def page(self, request: Request) -> Response:
        conversations = []
        if self.playground is not None:
            for platform, name in PLATFORMS.items():
                hooks = await self.playground.hooks(platform)
                conversations.append({"platform": platform, "name": name, "hooks": hooks,
                                      "turns": self.playground.turns(platform),
                                      "version": self.playground.version(platform)})
        return render(request, "console/playground.html",
                      {"title": "Playground", "conversations": conversations, "demo": self.playground is not None})

    async def transcript(self, request: Request) -> Response:
        playground, platform = self._needed(), _platform(request)
        version = playground.version(platform)
        if request.query_params.get("since") == version:
            return Response(status_code=204, headers={"cache-control": "no-store"})
        html = fragment("console/_transcript.html", {"platform": platform, "turns": playground.turns(platform)})
        return HTMLResponse(html, headers={"cache-control": "no-store", "x-version": version})

    async def say(self, request: Request) -> Response:
        playground, platform = self._needed(), _platform(request)
        _same_origin(request)
        form = await _form(request)
        text = form.get("text", "").strip()
        if not text or len(text) > MAX_TEXT:
            raise Invalid(f"text: type a message of 1 to {MAX_TEXT} characters", {"parameter": "text"})
        await playground.say(platform, text, _user(form), form.get("hook", ""))
        return _back(request, platform)

    async def click(self, request: Request) -> Response:
        playground, platform = self._needed(), _platform(request)
        _same_origin(request)
        form = await _form(request)
        index = form.get("button", "")
        if not index.isdigit() or len(index) > 4:
            raise Invalid("button: the number of a button of the message", {"parameter": "button"})
        url = await playground.click(form.get("turn", "")[:20], int(index), _user(form), form.get("hook", ""))
        return _back(request, platform, url)

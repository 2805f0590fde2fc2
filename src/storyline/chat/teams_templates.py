"""Ready-made Teams actions: HTTP Request actions a user pastes into a story and adapts.

They assume these names (rename to taste):

* the verified webhook receiving Teams activities is called "Teams message"
  (``verification: {"type": "teams", "app_id": ...}``), so its event is ``.teams_message``;
* the bot token is the OAuth2 client-credentials credential ``teams_bot`` (scope
  ``https://api.botframework.com/.default``; give it ``--allowed-host smba.trafficmanager.net``);
* proactive messages read the resource ``teams``: ``service_url`` (with its trailing
  ``/``), ``team_id`` (a team the bot is installed in, whose roster is searched),
  ``tenant_id`` and ``bot_id`` (``28:<app id>``), and the upstream action "Notify"
  (``.notify.email``, ``.notify.text``).

Each is plain Tines JSON, so a story using them exports back to Tines unchanged.
Connector calls retry 412, 502 and 504 as Microsoft asks; 429 is always retried after
``Retry-After``.
"""

from __future__ import annotations

from typing import Any

HTTP = "Agents::HTTPRequestAgent"
_AUTH = {"Authorization": "Bearer {{.CREDENTIAL.teams_bot}}"}
_RETRY = "412,502,504"
_CARD = "application/vnd.microsoft.card.adaptive"


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"contentType": _CARD, "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
        "body": body, "actions": actions}}


def _post(name: str, url: str, payload: dict[str, Any], method: str = "post") -> dict[str, Any]:
    return {"type": HTTP, "name": name, "options": {
        "url": url, "method": method, "content_type": "json", "headers": dict(_AUTH), "payload": payload,
        "retry_on_status": _RETRY}}


_PROMPT_BUTTONS = [
    {"type": "Action.OpenUrl", "title": "Approve", "url": "{% prompt approve %}"},
    {"type": "Action.OpenUrl", "title": "Deny", "url": "{% prompt deny %}"},
]
_SERVICE = "{{.RESOURCE.teams.service_url}}v3/conversations"

TEMPLATES: dict[str, dict[str, Any]] = {
    "teams_reply": {
        "description": "Reply in the conversation of a Teams message (threaded under it).",
        "action": _post("Reply in Teams", "{{.teams_message.conversation_url}}", {
            "type": "message", "text": "Working on: {{.teams_message.text}}", "replyToId": "{{.teams_message.id}}"}),
    },
    "teams_reply_card": {
        "description": "Reply with an Adaptive Card: Action.Submit buttons come back to the \"Teams message\" "
                       "webhook as events with .value.verb; the prompt buttons emit from this action.",
        "action": _post("Reply in Teams with buttons", "{{.teams_message.conversation_url}}", {
            "type": "message", "replyToId": "{{.teams_message.id}}", "attachments": [_card(
                [{"type": "TextBlock", "text": "Block {{.teams_message.text}}?", "wrap": True}],
                [{"type": "Action.Submit", "title": "Block", "data": {"verb": "block", "run": "{% story_run_guid %}"}},
                 {"type": "Action.Submit", "title": "Ignore", "data": {"verb": "ignore", "run": "{% story_run_guid %}"}},
                 *_PROMPT_BUTTONS])]}),
    },
    "teams_update_card": {
        "description": "Replace the card whose Action.Submit button was clicked (its id is the click's replyToId).",
        "action": _post("Update Teams card", "{{.teams_message.conversation_url}}/{{.teams_message.replyToId | url_encode}}", {
            "type": "message", "attachments": [_card(
                [{"type": "TextBlock", "wrap": True,
                  "text": "{{.teams_message.from.name}} chose {{.teams_message.value.verb}}"}], [])]}, method="put"),
    },
    "teams_find_member": {
        "description": "Proactive 1:1, step 1: find a person in the team roster by e-mail or UPN.",
        "action": {"type": HTTP, "name": "Find Teams member", "options": {
            "url": f"{_SERVICE}/{{{{.RESOURCE.teams.team_id | url_encode}}}}/members/{{{{.notify.email | url_encode}}}}",
            "method": "get", "headers": dict(_AUTH), "retry_on_status": _RETRY, "fail_on_status": "true"}},
    },
    "teams_open_chat": {
        "description": "Proactive 1:1, step 2: create (or get back) the bot's 1:1 conversation with that member.",
        "action": _post("Open Teams chat", _SERVICE, {
            "bot": {"id": "{{.RESOURCE.teams.bot_id}}"}, "members": [{"id": "{{.find_teams_member.body.id}}"}],
            "channelData": {"tenant": {"id": "{{.RESOURCE.teams.tenant_id}}"}}, "isGroup": False,
            "tenantId": "{{.RESOURCE.teams.tenant_id}}"}),
    },
    "teams_send_message": {
        "description": "Proactive 1:1, step 3: post an Adaptive Card with prompt buttons in that conversation.",
        "action": _post("Send Teams message", f"{_SERVICE}/{{{{.open_teams_chat.body.id | url_encode}}}}/activities", {
            "type": "message", "text": "{{.notify.text}}", "attachments": [_card(
                [{"type": "TextBlock", "text": "{{.notify.text}}", "wrap": True}], _PROMPT_BUTTONS)]}),
    },
    "teams_channel_notification": {
        "description": "Post a card to a channel through a Teams Workflows webhook (credential teams_workflow_url: "
                       "the whole URL, its sig= is the secret). Answers 202; its buttons cannot reach the bot.",
        "action": {"type": HTTP, "name": "Notify Teams channel", "options": {
            "url": "{{.CREDENTIAL.teams_workflow_url}}", "method": "post", "content_type": "json",
            "fail_on_status": "true", "retry_on_status": _RETRY, "payload": {
                "type": "message", "attachments": [_card(
                    [{"type": "TextBlock", "text": "{{.notify.text}}", "wrap": True}],
                    [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": "{% prompt acknowledged %}"}])]}}},
    },
}

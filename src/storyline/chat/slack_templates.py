"""Ready-made Slack actions: the webhook that receives Slack, and the Web API calls that answer.

They assume these names (rename to taste):

* the verified webhook receiving Slack is called "Receive Slack"
  (``verification: {"type": "slack", ...}``), so its event is ``.receive_slack``;
* the signing secret is the credential ``slack_signing_secret``, the bot token
  (``xoxb-...``) ``slack_bot_token``, an incoming webhook's URL ``slack_incoming_webhook_url``.

Each is plain Tines JSON, so a story using them exports back to Tines unchanged (except
``response_check: slack``, storyline's own: Slack's ``ok: false`` fails the action with
Slack's error code, and ``ratelimited`` is retried after Retry-After).
"""

from __future__ import annotations

from typing import Any

HTTP = "Agents::HTTPRequestAgent"
_AUTH = {"Authorization": "Bearer {% credential slack_bot_token %}"}
_API = "https://slack.com/api/"


def _call(name: str, method: str, payload: dict[str, Any], verb: str = "post") -> dict[str, Any]:
    return {"type": HTTP, "name": name, "options": {
        "url": _API + method, "method": verb, "content_type": "json", "payload": payload, "headers": dict(_AUTH),
        "response_check": "slack"}}


def _buttons(name: str, key: str) -> dict[str, Any]:
    """A question with Block and Ignore buttons; ``key`` is ``url`` (link buttons) or ``value`` (interactive)."""
    def button(label: str, status: str, **extra: str) -> dict[str, Any]:
        return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": status,
                key: f"{{% prompt {status} %}}", **extra}

    return _call(name, "chat.postMessage", {
        "channel": "{{.receive_slack.channel_id}}", "text": "Block {{.receive_slack.text}}?",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Block *{{.receive_slack.text}}*?"}},
                   {"type": "actions", "block_id": "decision",
                    "elements": [button("Block", "block", style="danger"), button("Ignore", "ignore")]}]})


TEMPLATES: dict[str, dict[str, Any]] = {
    "slack_receive": {
        "description": "Receive slash commands, events and button clicks from Slack, verified with the app's "
                       "signing secret; give its URL as the slash command's, Event Subscriptions' and "
                       "Interactivity's Request URL.",
        "action": {"type": "Agents::WebhookAgent", "name": "Receive Slack", "options": {
            "path": "slack", "verbs": "post", "include_headers": "false",
            "verification": {"type": "slack", "signing_secret": "{% credential slack_signing_secret %}"}}},
    },
    "slack_post_message": {
        "description": "Post a message to a channel, a DM (D...) or a user ID (U...: the app's Messages tab).",
        "action": _call("Post to Slack", "chat.postMessage", {
            "channel": "{{.receive_slack.channel_id}}", "text": "Analysis of {{.receive_slack.text}} started"}),
    },
    "slack_update_message": {
        "description": "Replace a message the app posted (channel and ts from chat.postMessage's answer).",
        "action": _call("Update Slack message", "chat.update", {
            "channel": "{{.post_to_slack.body.channel}}", "ts": "{{.post_to_slack.body.ts}}",
            "text": "Analysis finished"}),
    },
    "slack_lookup_user_by_email": {
        "description": "Find a Slack user by e-mail (fails with users_not_found when there is none).",
        "action": _call("Find Slack user", "users.lookupByEmail", {"email": "{{.alert.reporter_email}}"}, "get"),
    },
    "slack_open_dm": {
        "description": "Open (or find) the direct-message channel with a user; post to body.channel.id next.",
        "action": _call("Open Slack DM", "conversations.open", {"users": "{{.find_slack_user.body.user.id}}"}),
    },
    "slack_reply_response_url": {
        "description": "Answer a slash command or a button click through its response_url "
                       "(up to 5 times within 30 minutes; no token needed).",
        "action": {"type": HTTP, "name": "Reply in Slack", "options": {
            "url": "{{.receive_slack.response_url}}", "method": "post", "content_type": "json",
            "payload": {"response_type": "in_channel", "replace_original": False,
                        "text": "Results for {{.receive_slack.text}}"},
            "response_check": "slack"}},
    },
    "slack_incoming_webhook": {
        "description": "Post to the channel of an incoming webhook; its URL is a secret, so keep it as a credential.",
        "action": {"type": HTTP, "name": "Notify Slack channel", "options": {
            "url": "{% credential slack_incoming_webhook_url %}", "method": "post", "content_type": "json",
            "payload": {"text": "New alert: {{.alert.title}}"}, "response_check": "slack"}},
    },
    "slack_prompt_buttons": {
        "description": "Link buttons carrying prompt URLs: a click opens the signed URL in the browser and the "
                       "story continues from this action with .prompt.status. Needs no Interactivity URL.",
        "action": _buttons("Ask in Slack", "url"),
    },
    "slack_interactive_buttons": {
        "description": "Buttons that answer a prompt in place: Slack posts the click to the Interactivity URL "
                       "(the slack_receive webhook), and the story run that asked continues from this action "
                       "with .prompt.status, .user_id, .user_name, .clicked_at and .response_url. No browser.",
        "action": _buttons("Ask in Slack with buttons", "value"),
    },
}

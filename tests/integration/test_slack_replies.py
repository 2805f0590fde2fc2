"""Replies and proactive Slack messages: the shipped templates, run by the engine against the Slack fake.

Stories keep Slack's real URLs; egress overrides send them to the fake. With
``response_check: slack`` an ``ok: false`` answer fails the action with Slack's error
code, and rate limiting is retried after Retry-After.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from storyline.actions import http_request
from storyline.actions.base import ActionError, RunContext
from storyline.chat.templates import TEMPLATES
from storyline.credentials import model as creds
from storyline.credentials.cipher import Cipher
from storyline.credentials.stored import save_credential
from storyline.egress.client import Egress
from storyline.store.queries import list_logs
from tests.builders import story
from tests.fakes.slack import FakeSlack
from tests.harness import Harness
from tests.support import run_context

TOKEN = "xoxb-good"  # what the session's slack_server accepts


def from_template(name: str, **options: Any) -> dict[str, Any]:
    action = copy.deepcopy(TEMPLATES[name]["action"])
    action["options"].update(options)
    return action


async def harness_with_credentials(h: Harness, **values: str) -> None:
    cipher = Cipher.for_database(h.settings.database_url)

    def save(conn: sa.Connection) -> None:
        for name, value in values.items():
            save_credential(conn, cipher, creds.text(name, value), time.time())

    await h.service.db.write(save)
    await h.service.db.read(lambda conn: h.service.runtime.vault.refresh(conn, force=True))


def overrides(slack: FakeSlack) -> dict[str, str]:
    return {"slack.com": slack.url, "hooks.slack.com": slack.url}


def errors(h: Harness) -> list[str]:
    with h.engine.connect() as conn:
        return [row["message"] for row in list_logs(conn, level="error")]


# -- the templates, end to end ------------------------------------------------------------------------


async def test_a_proactive_dm_by_email_then_an_update(database_url: str, slack: FakeSlack) -> None:
    """users.lookupByEmail -> conversations.open -> chat.postMessage -> chat.update, all from templates."""
    actions = [
        from_template("slack_receive"),
        from_template("slack_lookup_user_by_email", payload={"email": "{{.receive_slack.reporter}}"}),
        from_template("slack_open_dm"),
        from_template("slack_post_message", payload={"channel": "{{.open_slack_dm.body.channel.id}}",
                                                     "text": "Your alert is being analysed"}),
        from_template("slack_update_message"),
    ]
    async with Harness(database_url, egress_overrides=overrides(slack)) as h:
        await harness_with_credentials(h, slack_bot_token=TOKEN, slack_signing_secret="s")
        await h.load(story("Notify reporter", actions, [(0, 1), (1, 2), (2, 3), (3, 4)]))
        await h.ingest("Receive Slack", {"reporter": "ana@example.com"})
        await h.drain()
        assert errors(h) == []
    [message] = slack.messages
    assert message["channel"].startswith("D") and message["text"] == "Analysis finished"  # posted, then updated
    assert [c.path for c in slack.calls] == ["/api/users.lookupByEmail", "/api/conversations.open",
                                             "/api/chat.postMessage", "/api/chat.update"]
    assert {c.headers["authorization"] for c in slack.calls} == {f"Bearer {TOKEN}"}


async def test_a_slack_error_fails_the_action_with_slacks_code(database_url: str, slack: FakeSlack) -> None:
    actions = [from_template("slack_receive"),
               from_template("slack_lookup_user_by_email", payload={"email": "{{.receive_slack.reporter}}"}),
               from_template("slack_open_dm")]
    async with Harness(database_url, egress_overrides=overrides(slack)) as h:
        await harness_with_credentials(h, slack_bot_token=TOKEN, slack_signing_secret="s")
        await h.load(story("Notify reporter", actions, [(0, 1), (1, 2)]))
        await h.ingest("Receive Slack", {"reporter": "nobody@example.com"})
        await h.drain()
        assert h.events(action="Find Slack user") == [] and h.events(action="Open Slack DM") == []
        [error] = errors(h)
    assert "Slack error from slack.com: users_not_found" in error and TOKEN not in error
    assert len(slack.calls) == 1  # not retried: Slack said no


async def test_rate_limited_posts_are_retried_after_retry_after(database_url: str, slack: FakeSlack) -> None:
    slack.throttle(retry_after=1, path="/api/chat.postMessage")
    slack.error("chat.postMessage", "ratelimited")
    actions = [from_template("slack_receive"),
               from_template("slack_post_message", payload={"channel": "C1", "text": "hello"})]
    async with Harness(database_url, egress_overrides=overrides(slack)) as h:
        await harness_with_credentials(h, slack_bot_token=TOKEN, slack_signing_secret="s")
        await h.load(story("Post", actions, [(0, 1)]))
        await h.ingest("Receive Slack", {})
        await h.drain(timeout=30)
        [posted] = h.events(action="Post to Slack")
    assert posted["output"]["body"]["ok"] is True
    assert [c.fault for c in slack.calls] == ["status 429", "status 200", None]
    assert len(slack.messages) == 1


async def test_a_response_url_reply(database_url: str, slack: FakeSlack) -> None:
    actions = [from_template("slack_receive"), from_template("slack_reply_response_url")]
    async with Harness(database_url, egress_overrides=overrides(slack)) as h:
        await h.load(story("Reply", actions, [(0, 1)]))
        await h.ingest("Receive Slack", {"text": "example.com",
                                         "response_url": "https://hooks.slack.com/commands/T1/2/abc"})
        await h.drain()
        assert errors(h) == []
    assert slack.replies == [{"path": "/commands/T1/2/abc", "payload": {
        "response_type": "in_channel", "replace_original": False, "text": "Results for example.com"}}]


# -- response_check: slack, one answer at a time --------------------------------------------------------


def context(options: Mapping[str, Any], egress: Egress) -> RunContext:
    return run_context(http_request.TYPE, options, name="Call Slack", now=time.time(), egress=egress)


async def call(slack: FakeSlack, method: str = "chat.postMessage", *, url: str | None = None,
               payload: Any = None) -> Any:
    options = {"url": url or f"https://slack.com/api/{method}", "method": "post", "content_type": "json",
               "payload": payload if payload is not None else {"channel": "C1", "text": "hi"},
               "headers": {"Authorization": f"Bearer {TOKEN}"}, "response_check": "slack"}
    assert http_request.validate(options) == []
    async with Egress(overrides(slack), timeout=5) as egress:
        return await http_request.run(context(options, egress))


@pytest.mark.parametrize(("code", "message"), [
    ("channel_not_found", "Slack error from slack.com: channel_not_found"),
    ("not_in_channel", "Slack error from slack.com: not_in_channel"),
    ("invalid_auth", "Slack error from slack.com: invalid_auth"),
])
async def test_ok_false_fails_without_retry(slack: FakeSlack, code: str, message: str) -> None:
    slack.error("chat.postMessage", code)
    with pytest.raises(ActionError) as info:
        await call(slack)
    assert str(info.value) == message and not info.value.retryable


async def test_missing_scope_names_the_scope_needed(slack: FakeSlack) -> None:
    slack.fail(200, path="/api/users.lookupByEmail",
               json={"ok": False, "error": "missing_scope", "needed": "users:read.email", "provided": "chat:write"})
    with pytest.raises(ActionError, match=r"missing_scope \(needed scope: users:read.email\)"):
        await call(slack, "users.lookupByEmail", payload={"email": "ana@example.com"})


async def test_429_and_ratelimited_are_retried_after_retry_after(slack: FakeSlack) -> None:
    slack.throttle(retry_after=7)
    with pytest.raises(ActionError) as info:
        await call(slack)
    assert info.value.retryable and info.value.retry_after == 7
    slack.fail(200, json={"ok": False, "error": "ratelimited"}, headers={"retry-after": "3"})
    with pytest.raises(ActionError) as info:
        await call(slack)
    assert info.value.retryable and info.value.retry_after == 3 and "Slack ratelimited" in str(info.value)


async def test_incoming_webhook_and_response_url_errors_carry_slacks_code(slack: FakeSlack) -> None:
    hook = "https://hooks.slack.com/services/T1/B1/xyz"
    assert (await call(slack, url=hook, payload={"text": "hi"})).events[0]["body"] == "ok"
    slack.fail(410, path="/services/T1/B1/xyz", body="channel_is_archived")
    with pytest.raises(ActionError, match=r"Slack error from hooks\.slack\.com: HTTP 410 channel_is_archived"):
        await call(slack, url=hook, payload={"text": "hi"})
    reply = "https://hooks.slack.com/commands/T1/2/abc"
    for _ in range(5):
        await call(slack, url=reply, payload={"text": "hi"})
    with pytest.raises(ActionError, match="HTTP 404 used_url"):  # Slack takes 5 replies per response_url
        await call(slack, url=reply, payload={"text": "hi"})


async def test_slack_5xx_is_retried(slack: FakeSlack) -> None:
    slack.fail(503, body="upstream")
    with pytest.raises(ActionError) as info:
        await call(slack)
    assert info.value.retryable


async def test_a_good_answer_is_emitted_as_usual(slack: FakeSlack) -> None:
    result = await call(slack)
    assert result.events[0]["body"]["ok"] is True and slack.messages[0]["text"] == "hi"


def test_an_unknown_response_check_is_a_validation_error_naming_the_option() -> None:
    problems = http_request.validate({"url": "https://slack.com/api/chat.postMessage", "response_check": "slak"})
    [problem] = problems
    assert problem.startswith("response_check: must be one of ") and "slack" in problem and "(got 'slak')" in problem


def test_every_template_is_a_valid_action() -> None:
    from storyline.actions import action_type

    found = {name: t for name, t in TEMPLATES.items() if name.startswith("slack_")}
    assert {"slack_receive", "slack_post_message", "slack_update_message", "slack_lookup_user_by_email",
            "slack_open_dm", "slack_reply_response_url", "slack_incoming_webhook", "slack_prompt_buttons",
            "slack_interactive_buttons"} <= set(found)
    for name, item in found.items():
        module = action_type(item["action"]["type"])
        assert module is not None, name
        assert module.validate(item["action"]["options"]) == [], name

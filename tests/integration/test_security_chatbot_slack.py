"""The pack's Slack security chatbot, from a signed slash command to the verdict reply and a click.

The app runs with its worker; Slack's side is the Slack fake (it signs what it sends and
keeps every ``response_url`` reply), the enrichment sources are ``FakeEnrichment``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from storyline.config import Settings
from storyline.web.app import create_app
from tests.fakes.enrichment import FakeEnrichment
from tests.fakes.slack import FakeSlack
from tests.integration.security_chatbot import PUBLIC, Database, install
from tests.support import eventually

FORM = "application/x-www-form-urlencoded"
EVERY_KEY = {"virustotal": "vt-key", "urlhaus": "uh-key"}


class Workspace:
    """Slack's side of the conversation with the installed pack."""

    def __init__(self, client: TestClient, slack: FakeSlack, database_url: str) -> None:
        self.client, self.slack, self.db = client, slack, Database(database_url)
        self.commands = 0

    def post(self, form: dict[str, str]) -> Any:
        body = urlencode(form).encode()
        return self.client.post("/webhook/security-chatbot-slack", content=body,
                                headers={"content-type": FORM, **self.slack.signed(body)})

    def command(self, command: str, text: str) -> tuple[Any, str]:
        self.commands += 1
        url = f"https://hooks.slack.com/commands/T1/{self.commands}/x"
        response = self.post({"command": command, "text": text, "user_id": "U0ANA", "user_name": "ana",
                              "channel_id": "C0SEC", "response_url": url, "team_id": "T1"})
        return response, url.removeprefix("https://hooks.slack.com")

    def reply(self, path: str, timeout: float = 30.0) -> dict[str, Any]:
        replies = eventually(lambda: [r["payload"] for r in self.slack.replies if r["path"] == path], timeout,
                             lambda: f"a reply at {path}; calls: {[c.path for c in self.slack.calls]}")
        assert len(replies) == 1, replies
        return replies[0]

    def click(self, button: dict[str, Any]) -> Any:
        action = {"action_id": button["action_id"], "block_id": "b", "type": "button", "value": button["value"],
                  "text": button["text"], "action_ts": f"{time.time():.6f}"}
        payload = {"type": "block_actions", "user": {"id": "U0BOB", "username": "bob", "team_id": "T1"},
                   "channel": {"id": "C0SEC"}, "response_url": "https://hooks.slack.com/actions/T1/9/z",
                   "container": {"type": "message", "channel_id": "C0SEC"}, "actions": [action]}
        return self.post({"payload": json.dumps(payload)})


def verdicts(reply: dict[str, Any]) -> dict[str, str]:
    """Each indicator's section text, by indicator."""
    sections = [b["text"]["text"] for b in reply["blocks"][1:] if b["type"] == "section"]
    return {text.split("*")[1]: text for text in sections}


def buttons(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]]


def open_workspace(database_url: str, slack: FakeSlack, intel: FakeEnrichment, keys: dict[str, str],
                   **resources: Any) -> Iterator[Workspace]:
    install(database_url, {"slack_signing_secret": slack.signing_secret, "slack_bot_token": slack.token, **keys},
            {"chatbot_reply_within_seconds": 4, **resources})
    settings = Settings(database_url=database_url, public_url=PUBLIC, retry_base_seconds=0.05, max_attempts=3,
                        egress_timeout=1.0, sqlite_synchronous="NORMAL",
                        egress_overrides={"slack.com": slack.url, "hooks.slack.com": slack.url, **intel.overrides()})
    with TestClient(create_app(settings)) as client:
        yield Workspace(client, slack, database_url)


@pytest.fixture
def workspace(database_url: str, slack: FakeSlack, intel: FakeEnrichment) -> Iterator[Workspace]:
    yield from open_workspace(database_url, slack, intel, EVERY_KEY)


def test_analyzedomain_acks_at_once_then_replies_with_every_verdict_and_buttons(workspace: Workspace) -> None:
    response, path = workspace.command("/analyzedomain", "evil-example[.]com www.new-site.com report.pdf")
    assert response.status_code == 200
    assert response.json() == {"response_type": "ephemeral",
                               "text": "On it: /analyzedomain evil-example[.]com www.new-site.com report.pdf"}

    reply = workspace.reply(path)
    assert reply["response_type"] == "in_channel"
    assert reply["blocks"][0]["text"]["text"].startswith("*2 domains analysed* for <@U0ANA>")
    found = verdicts(reply)
    assert list(found) == ["evil-example.com", "www.new-site.com"]
    evil = found["evil-example.com"].splitlines()
    assert evil[0] == ":red_circle: *evil-example.com*: malicious"
    assert evil[1].startswith("VirusTotal: 12/94 engines flag it as malicious")
    assert evil[2].startswith("URLhaus: 3 malware URLs")
    assert evil[3].startswith("Domain age: registered ")
    young = found["www.new-site.com"].splitlines()
    assert young[0] == ":large_orange_circle: *www.new-site.com*: suspicious"
    assert young[3].startswith("Domain age: registered 3 days ago")
    assert [(b["text"]["text"], b["action_id"]) for b in buttons(reply)] == [
        ("Whitelist", "whitelist:evil-example.com"), ("Block", "block:evil-example.com"),
        ("Whitelist", "whitelist:www.new-site.com"), ("Block", "block:www.new-site.com")]


def test_a_block_click_is_recorded_and_confirmed(workspace: Workspace) -> None:
    _, path = workspace.command("/analyzedomain", "evil-example.com")
    block = buttons(workspace.reply(path))[1]
    clicked = workspace.click(block)
    assert clicked.status_code == 200 and clicked.text == ""

    confirm = workspace.reply("/actions/T1/9/z")
    assert confirm["text"] == "<@U0BOB> chose to *block* `evil-example.com`."
    [decision] = workspace.db.events("Record decision")
    assert {k: decision["output"][k] for k in ("decision", "indicator", "by", "channel")} == {
        "decision": "block", "indicator": "evil-example.com", "by": "bob", "channel": "C0SEC"}


@pytest.mark.parametrize(("command", "text", "indicator", "lines"), [
    ("/analyzeip", "seen from 45.9.148.1 and 10.0.0.1", "45.9.148.1", 2),
    ("/analyzeurl", "hxxps://evil-example[.]com/login", "https://evil-example.com/login", 2),
    ("/analyzehash", "44d88612fea8a8f36de82e1278abb02f", "44d88612fea8a8f36de82e1278abb02f", 2),
])
def test_every_kind_of_indicator(workspace: Workspace, command: str, text: str, indicator: str, lines: int) -> None:
    _, path = workspace.command(command, text)
    found = verdicts(workspace.reply(path))
    assert list(found) == [indicator]  # the private address is skipped
    first, *rest = found[indicator].splitlines()
    assert first.endswith(": malicious")
    assert [line.split(":")[0] for line in rest] == ["VirusTotal", "URLhaus"][:lines]


def test_help_and_no_indicator(workspace: Workspace) -> None:
    _, path = workspace.command("/analyzedomain", "help")
    assert "/analyzehash" in workspace.reply(path)["text"]
    _, path = workspace.command("/analyzedomain", "please check invoice.zip and evil.test")
    assert workspace.reply(path)["text"].startswith("No domains found in `please check invoice.zip and evil.test`")
    assert workspace.db.events("Search VirusTotal") == []


@pytest.fixture
def no_keys(database_url: str, slack: FakeSlack, intel: FakeEnrichment) -> Iterator[Workspace]:
    yield from open_workspace(database_url, slack, intel, {}, chatbot_max_indicators=3)


def test_no_key_says_not_configured_and_hides_nothing_else(no_keys: Workspace) -> None:
    _, path = no_keys.command("/analyzedomain", "evil-example.com")
    lines = verdicts(no_keys.reply(path))["evil-example.com"].splitlines()
    assert lines[1:3] == ["VirusTotal: not configured", "URLhaus: not configured"]
    assert lines[3].startswith("Domain age: registered ")
    assert not [c for c in no_keys.slack.calls if "virustotal" in c.path]


def test_fifty_indicators_are_cut_with_a_note(no_keys: Workspace) -> None:
    _, path = no_keys.command("/analyzedomain", " ".join(f"host{i}.example.com" for i in range(50)))
    reply = no_keys.reply(path)
    assert list(verdicts(reply)) == ["host0.example.com", "host1.example.com", "host2.example.com"]
    assert "(Found 50 domains, looking up the first 3.)" in reply["blocks"][0]["text"]["text"]


def test_a_429_is_retried_and_a_500_stays_in_its_line(workspace: Workspace, intel: FakeEnrichment) -> None:
    intel.throttle(1, retry_after=0, path="/virustotal")
    intel.fail(500, times=None, path="/urlhaus")
    _, path = workspace.command("/analyzedomain", "evil-example.com")
    lines = verdicts(workspace.reply(path))["evil-example.com"].splitlines()
    assert lines[1].startswith("VirusTotal: 12/94 engines flag it as malicious")
    assert lines[2] == "URLhaus: error (HTTP 500)"
    assert lines[3].startswith("Domain age: registered ")
    assert [c.fault for c in intel.calls if c.path.startswith("/virustotal")] == ["status 429", None]


def test_a_source_that_never_answers_is_named_and_the_reply_still_goes(
        workspace: Workspace, intel: FakeEnrichment) -> None:
    intel.hang(5, times=None, path="/rdap")
    _, path = workspace.command("/analyzedomain", "evil-example.com")
    lines = verdicts(workspace.reply(path, timeout=20))["evil-example.com"].splitlines()
    assert lines[0] == ":red_circle: *evil-example.com*: malicious"
    assert lines[3] == "Domain age: no answer in time (rate limited or unavailable)"
    eventually(workspace.db.settled, 30, "the run settled")
    assert len([r for r in workspace.slack.replies if r["path"] == path]) == 1

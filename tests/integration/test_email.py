"""Send Email end to end: a story mails through a real SMTP server (aiosmtpd) started by the test.

The server is reached through the SMTP settings (STORYLINE_SMTP_HOST/PORT), exactly as
an operator points storyline at a relay; nothing under test is patched.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from storyline.actions import email as send_email
from storyline.actions.base import ActionError, RunContext
from storyline.egress.smtp import Mailer
from storyline.engine.runtime import RunScope
from storyline.store import tables as t
from tests.builders import WEBHOOK, agent, story
from tests.fakes.smtp import FakeSmtp
from tests.harness import Harness
from tests.support import run_context

EMAIL = "Agents::EmailAgent"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: FakeSmtp) -> Iterator[FakeSmtp]:
    smtp_server.reset()
    yield smtp_server
    smtp_server.reset()


def closed_port() -> int:
    """A port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alert_story() -> dict[str, Any]:
    return story(
        "Mail the owner",
        [
            agent(WEBHOOK, "Receive alert", path="alerts", secret="s3cret", verbs="post"),
            agent(
                EMAIL,
                "Notify owner",
                recipients="{{ .receive_alert.owner }}",
                sender_name="SOC bot",
                subject="Alert {{ .receive_alert.id }}: {{ .receive_alert.title }}",
                body="Hello,<br/><b>{{ .receive_alert.title }}</b> needs a look.",
            ),
        ],
        [(0, 1)],
    )


def smtp_settings(port: int) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False, "smtp_from": "soc@example.com"}


async def test_story_sends_the_rendered_message(database_url: str, smtp: FakeSmtp) -> None:
    async with Harness(database_url, **smtp_settings(smtp.port)) as h:
        await h.load(alert_story())
        await h.ingest("Receive alert", {"id": 7, "title": "Phishing reported", "owner": "ana@example.com"})
        await h.drain()

        (received,) = smtp.messages
        assert received.mail_from == "soc@example.com"
        assert received.rcpt_tos == ["ana@example.com"]
        assert received["From"] == "SOC bot <soc@example.com>"
        assert received["Subject"] == "Alert 7: Phishing reported"
        assert received.message.get_content_type() == "text/html"
        assert received.message.get_content().strip() == "Hello,<br/><b>Phishing reported</b> needs a look."

        (event,) = h.events(action="Notify owner")
        assert event["output"] == {
            "status": "sent",
            "message_id": received["Message-ID"],
            "from": "SOC bot <soc@example.com>",
            "recipients": ["ana@example.com"],
            "cc": [],
            "bcc": [],
            "subject": "Alert 7: Phishing reported",
            "attachments": [],
        }
        assert event["payload"]["receive_alert"]["id"] == 7


async def test_smtp_down_is_retried_then_fails_with_the_reason(database_url: str) -> None:
    port = closed_port()
    async with Harness(database_url, max_attempts=3, **smtp_settings(port)) as h:
        await h.load(alert_story())
        await h.ingest("Receive alert", {"id": 1, "title": "x", "owner": "ana@example.com"})
        await h.drain()

        (job,) = [job for job in h.jobs() if job["action_id"] == h.action("Notify owner").id]
        assert job["status"] == "failed"
        assert job["attempts"] == 3
        assert job["error"].startswith(f"SMTP server 127.0.0.1:{port} is unreachable")
        assert h.events(action="Notify owner") == []
        with h.engine.connect() as conn:
            levels = [row.level for row in conn.execute(sa.select(t.logs).where(t.logs.c.job_id == job["id"]))]
        assert levels == ["warning", "warning", "error"]


async def test_no_smtp_server_configured_fails_saying_how_to_configure_one(database_url: str) -> None:
    async with Harness(database_url) as h:
        await h.load(alert_story())
        await h.ingest("Receive alert", {"id": 1, "title": "x", "owner": "ana@example.com"})
        await h.drain()
        (job,) = [job for job in h.jobs() if job["action_id"] == h.action("Notify owner").id]
        assert job["status"] == "failed" and job["attempts"] == 1
        assert "set STORYLINE_SMTP_HOST" in job["error"]


# -- the action alone, against the real server: login, refusals ---------------------------


def context(options: dict[str, Any], mailer: Mailer, credentials: dict[str, str] | None = None) -> RunContext:
    ctx = run_context(EMAIL, options, name="Send mail", now=time.time(), mailer=mailer)
    return replace(ctx, scope=RunScope("run-1", ctx.action, credentials or {}, {}, "http://127.0.0.1:8000"))


OPTIONS = {"recipients": ["ana@example.com", "bo@example.com"], "bcc": "audit@example.com",
           "subject": "Weekly report", "body": "All quiet."}


async def test_login_with_the_password_credential() -> None:
    with FakeSmtp(user="mailer", password="pw-123") as server:
        mailer = Mailer("127.0.0.1", server.port, starttls=False, user="mailer", password_credential="smtp")
        result = await send_email.run(context(OPTIONS, mailer, {"smtp": "pw-123"}))
        (received,) = server.messages
        assert received.login == "mailer"
        assert received.mail_from == "storyline@localhost"
        assert received.rcpt_tos == ["ana@example.com", "bo@example.com", "audit@example.com"]
        assert "Bcc" not in received.message
        assert received.message.get_content_type() == "text/plain"
        assert result.events[0]["bcc"] == ["audit@example.com"]


async def test_wrong_password_fails_at_once_without_showing_it() -> None:
    with FakeSmtp(user="mailer", password="pw-123") as server:
        mailer = Mailer("127.0.0.1", server.port, starttls=False, user="mailer", password_credential="smtp")
        with pytest.raises(ActionError) as caught:
            await send_email.run(context(OPTIONS, mailer, {"smtp": "wrong-pw"}))
        assert not caught.value.retryable
        assert str(caught.value).startswith(f"SMTP server 127.0.0.1:{server.port} refused the login as 'mailer': 535")
        assert "wrong-pw" not in str(caught.value)
        assert server.messages == []


async def test_undefined_password_credential_is_named_and_nothing_is_sent() -> None:
    with FakeSmtp(user="mailer", password="pw-123") as server:
        mailer = Mailer("127.0.0.1", server.port, starttls=False, user="mailer", password_credential="smtp")
        with pytest.raises(ActionError, match="STORYLINE_SMTP_PASSWORD_CREDENTIAL: credential 'smtp' is not defined"):
            await send_email.run(context(OPTIONS, mailer))
        assert server.messages == []


async def test_refused_recipients(smtp: FakeSmtp) -> None:
    mailer = Mailer("127.0.0.1", smtp.port, starttls=False)
    smtp.refuse["bo@example.com"] = "550 5.1.1 no such user"
    result = await send_email.run(context(OPTIONS, mailer))
    assert result.events[0]["refused"] == {"bo@example.com": "550 5.1.1 no such user"}
    assert result.logs == [f"warning: SMTP server 127.0.0.1:{smtp.port} refused bo@example.com"]

    smtp.refuse.update({"ana@example.com": "450 4.2.1 busy, try later", "audit@example.com": "450 4.2.1 busy"})
    smtp.refuse["bo@example.com"] = "450 4.2.1 busy"
    with pytest.raises(ActionError, match="refused every recipient") as caught:
        await send_email.run(context(OPTIONS, mailer))
    assert caught.value.retryable  # every refusal was temporary (4xx)


async def test_prompt_links_in_the_body_point_at_the_prompt_endpoint(database_url: str, smtp: FakeSmtp) -> None:
    data = alert_story()
    data["agents"][1]["options"]["body"] = 'Did you click it? <a href="{% prompt clicked %}">Yes</a>'
    async with Harness(database_url, **smtp_settings(smtp.port)) as h:
        await h.load(data)
        await h.ingest("Receive alert", {"id": 2, "title": "x", "owner": "ana@example.com"})
        await h.drain()
        (received,) = smtp.messages
        html = received.message.get_content()
        assert f'href="{h.settings.public_url}/prompt?e=' in html
        assert f"&a={h.action('Notify owner').id}&" in html and "&s=clicked&sig=" in html

"""Receive Email end to end: a story polls a real IMAP server (pymap) started by the test.

Each ``start_run`` is what a schedule tick does: one poll. The action reaches the server
by its own ``host``/``port`` options, as a story names its mail server; nothing under
test is patched.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from tests.builders import TRANSFORM, agent, story
from tests.fakes.imap import FakeImap
from tests.harness import Harness

IMAP = "Agents::IMAPAgent"


MAIL_SERVER = ("127.0.0.1",)
"""The fake IMAP server is on loopback: allowed as an operator allows an internal mail server."""


@pytest.fixture
def mailbox() -> Iterator[FakeImap]:
    with FakeImap(user="report-phishing@example.com", password="imap-pw") as server:
        yield server


def mail(subject: str, *, sender: str = "ana@example.com", attachment: bytes | None = None,
         message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "report-phishing@example.com"
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{subject.replace(' ', '-')}@example.com>"
    message.set_content(f"About: {subject}")
    message.add_alternative(f"<p>About: <b>{subject}</b></p>", subtype="html")
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message


def inbox_story(server: FakeImap | None, port: int | None = None, **options: Any) -> dict[str, Any]:
    options = {"host": "127.0.0.1", "password": "imap-pw", "conditions": {}, "mark_as_read": "true", **options}
    reader = agent(
        IMAP, "Read mail", port=port or (server.port if server else 0),
        username="report-phishing@example.com", ssl=False, folders=["INBOX"], **options,
    )
    summary = agent(TRANSFORM, "Summarise", mode="message_only",
                    summary="{{ .read_mail.subject }} from {{ .read_mail.from }}")
    return story("Phishing inbox", [reader, summary], [(0, 1)])


async def poll(h: Harness) -> list[dict[str, Any]]:
    """One poll; the events it emitted."""
    before = len(h.events(action="Read mail"))
    await h.start_run("Read mail")
    await h.drain()
    return [event["output"] for event in h.events(action="Read mail")[before:]]


def read_mail_job(h: Harness) -> dict[str, Any]:
    (job,) = [job for job in h.jobs() if job["action_id"] == h.action("Read mail").id]
    return job


async def test_first_visit_watches_then_each_new_message_is_emitted_once(
    database_url: str, mailbox: FakeImap
) -> None:
    old = mailbox.deliver(mail("Already here"))
    async with Harness(database_url, egress_allow=MAIL_SERVER) as h:
        await h.load(inbox_story(mailbox, emit_headers="true"))

        assert await poll(h) == []  # Tines: the first visit only notes where the mailbox stands

        first = mailbox.deliver(mail("Invoice overdue", attachment=b"%PDF-1.4 fake"))
        second = mailbox.deliver(mail("Reset your password", sender="Bo <bo@example.com>"))
        emitted = await poll(h)
        assert [m["subject"] for m in emitted] == ["Invoice overdue", "Reset your password"]
        assert [m["uid"] for m in emitted] == [first, second]

        invoice, reset = emitted
        assert invoice["from"] == "ana@example.com"
        assert invoice["message_id"] == "<Invoice-overdue@example.com>"
        assert invoice["text"] == "About: Invoice overdue\n"
        assert invoice["html"] == invoice["body"] == "<p>About: <b>Invoice overdue</b></p>\n"
        assert invoice["headers"]["Subject"] == "Invoice overdue"
        assert invoice["is_unread"] is True
        (attachment,) = invoice["attachments"]
        assert (attachment["filename"], attachment["content_type"], attachment["sizeinbytes"]) == (
            "invoice.pdf", "application/pdf", 13)
        assert attachment["md5"] == hashlib.md5(b"%PDF-1.4 fake").hexdigest()
        assert reset["attachments"] == []

        # Downstream actions see each message under the action's key.
        summaries = [event["output"]["summary"] for event in h.events(action="Summarise")]
        assert summaries == ["Invoice overdue from ana@example.com", "Reset your password from Bo <bo@example.com>"]
        # One event per message, and each message its own event in the run.
        assert len(h.events(action="Read mail")) == 2

        assert await poll(h) == []  # nothing new: nothing emitted

        flags = mailbox.flags()
        assert "\\Seen" in flags[first] and "\\Seen" in flags[second]
        assert "\\Seen" not in flags[old]  # mark_as_read touches what was emitted only

        third = mailbox.deliver(mail("Third"))
        assert [m["uid"] for m in await poll(h)] == [third]


async def test_conditions_and_duplicate_message_ids(database_url: str, mailbox: FakeImap) -> None:
    async with Harness(database_url, egress_allow=MAIL_SERVER) as h:
        await h.load(inbox_story(mailbox, conditions={"subject": "invoice", "has_attachment": "true"}))
        await poll(h)
        mailbox.deliver(mail("Invoice 1", attachment=b"pdf", message_id="<dup@example.com>"))
        mailbox.deliver(mail("Invoice 2 without attachment"))
        mailbox.deliver(mail("Hello"))
        mailbox.deliver(mail("Invoice 1 again", attachment=b"pdf", message_id="<dup@example.com>"))
        assert [m["subject"] for m in await poll(h)] == ["Invoice 1"]
        assert await poll(h) == []


async def test_wrong_password_fails_at_once_with_the_reason(database_url: str, mailbox: FakeImap) -> None:
    async with Harness(database_url, egress_allow=MAIL_SERVER) as h:
        await h.load(inbox_story(mailbox, password="not-the-password"))
        await poll(h)
        job = read_mail_job(h)
        assert job["status"] == "failed" and job["attempts"] == 1
        assert job["error"].startswith(
            f"IMAP server 127.0.0.1:{mailbox.port} refused the login as 'report-phishing@example.com'")
        assert "not-the-password" not in job["error"]


async def test_imap_down_is_retried_then_fails_with_the_reason(database_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Harness(database_url, egress_allow=MAIL_SERVER, max_attempts=3) as h:
        await h.load(inbox_story(None, port=port))
        await poll(h)
        job = read_mail_job(h)
        assert job["status"] == "failed" and job["attempts"] == 3
        assert job["error"].startswith(f"IMAP server 127.0.0.1:{port} is unreachable")


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "is a loopback address"),
    ("10.0.0.5", "is a private address"),
    ("169.254.169.254", "metadata"),
])
async def test_an_internal_imap_host_is_refused_by_the_egress_guard(
    database_url: str, mailbox: FakeImap, host: str, reason: str
) -> None:
    async with Harness(database_url, max_attempts=3) as h:
        await h.load(inbox_story(mailbox, host=host))
        assert await poll(h) == []
        job = read_mail_job(h)
    assert job["status"] == "failed" and job["attempts"] == 1  # refused at once, not retried
    assert job["error"].startswith(f"IMAP to {host}:{mailbox.port} refused") and reason in job["error"]

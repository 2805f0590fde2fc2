"""Receive Email: options, and what one fetched message becomes as an event."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage

from storyline.actions import action_type, imap
from storyline.egress.imap import Fetched
from tests.corpus import corpus_agents


def test_registered_under_the_tines_type() -> None:
    assert action_type("Agents::IMAPAgent") is imap


def test_validate_accepts_the_corpus_shapes() -> None:
    assert imap.validate({"host": "{{.RESOURCE.imap_mail_server}}", "username": "report-phishing@tines.xyz",
                          "password": "{{.CREDENTIAL.imap_password}}", "ssl": True, "folders": ["INBOX"],
                          "conditions": {}, "emit_headers": "true", "mark_as_read": "true",
                          "manual_time": "60"}) == []


def test_validate_names_the_bad_option() -> None:
    assert imap.validate({"host": "imap.example.com", "username": "u", "password": "p", "port": "imaps",
                          "folders": [], "conditions": {"subjet": "x", "from": "("}}) == [
        "port: must be a TCP port number (got 'imaps')",
        "conditions.subjet: is not a message field (one of from, to, cc, reply_to, subject, date, body, "
        "text, html, message_id, is_unread, has_attachment)",
        "option 'conditions.from' is not a valid regular expression: missing ) at position 1",
    ]
    assert imap.validate({"host": "imap.example.com"}) == ["username: is required", "password: is required"]


def phishing_report() -> EmailMessage:
    reported = EmailMessage()
    reported["From"] = "it-support@evil.example"
    reported["Subject"] = "Reset your password"
    reported.set_content("Click http://evil.example/reset")

    message = EmailMessage()
    message["From"] = "Ana Lopes <ana@example.com>"
    message["To"] = "report-phishing@example.com"
    message["Subject"] = "=?utf-8?q?Fwd=3A_Suspicious_=E2=9C=89?="
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    message["Message-ID"] = "<report-1@example.com>"
    message["Received"] = "from a by b"
    message.add_header("Received", "from b by c")
    message.set_content("Please check the attached mail.")
    message.add_alternative("<p>Please check the <b>attached</b> mail.</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf")
    message.add_attachment(reported)
    return message


def test_parse_message_emits_headers_text_html_and_attachments() -> None:
    raw = phishing_report().as_bytes()
    event = imap.parse_message(Fetched(101, ("\\Recent",), raw), "INBOX", emit_headers=True)

    assert event["message_id"] == "<report-1@example.com>"
    assert (event["folder"], event["uid"], event["is_unread"]) == ("INBOX", 101, True)
    assert event["from"] == "Ana Lopes <ana@example.com>"
    assert event["to"] == "report-phishing@example.com"
    assert event["subject"] == "Fwd: Suspicious ✉"
    assert event["date"] == "Mon, 23 Nov 2026 09:00:00 +0000"
    assert event["text"] == "Please check the attached mail.\n"
    assert event["html"] == "<p>Please check the <b>attached</b> mail.</p>\n"
    assert event["body"] == event["html"]
    assert event["headers"]["Received"] == ["from a by b", "from b by c"]
    assert event["headers"]["Subject"] == "Fwd: Suspicious ✉"

    pdf, eml = event["attachments"]
    assert pdf == {
        "filename": "invoice.pdf",
        "content_type": "application/pdf",
        "sizeinbytes": 16,
        "md5": hashlib.md5(b"%PDF-1.4 invoice").hexdigest(),
        "sha256": hashlib.sha256(b"%PDF-1.4 invoice").hexdigest(),
        "base64encodedcontents": base64.b64encode(b"%PDF-1.4 invoice").decode(),
    }
    assert eml["filename"] == "attachment-2.eml"
    assert eml["content_type"] == "message/rfc822"
    assert b"Reset your password" in base64.b64decode(eml["base64encodedcontents"])
    assert eml["sizeinbytes"] == len(base64.b64decode(eml["base64encodedcontents"]))


def test_plain_message_without_headers_option() -> None:
    message = EmailMessage()
    message["From"] = "bo@example.com"
    message["Subject"] = "hello"
    message.set_content("just text")
    event = imap.parse_message(Fetched(7, ("\\Seen",), message.as_bytes()), "Reports", emit_headers=False)
    assert "headers" not in event
    assert (event["body"], event["html"], event["attachments"], event["is_unread"]) == ("just text\n", "", [], False)
    assert event["message_id"] == ""


def test_conditions_are_regexes_on_fields_and_flags() -> None:
    event = imap.parse_message(Fetched(1, (), phishing_report().as_bytes()), "INBOX", emit_headers=False)
    assert imap.matches(event, {})
    assert imap.matches(event, {"subject": "suspicious", "from": r"@example\.com>$", "has_attachment": "true"})
    assert not imap.matches(event, {"subject": "invoice"})
    assert not imap.matches(event, {"is_unread": False})


def test_every_receive_email_in_the_real_tines_exports_validates() -> None:
    actions = corpus_agents(imap.TYPE)
    assert actions, "the corpus holds Receive Email actions"
    problems = [(file, name, imap.validate(options)) for file, name, options in actions]
    assert [p for p in problems if p[2]] == []

"""Send Email: which options are accepted, how addresses are read, what the message looks like."""

from __future__ import annotations

import base64

import pytest

from storyline.actions import action_type
from storyline.actions import email as send_email
from storyline.actions.base import ActionError
from storyline.config import Settings
from storyline.egress.smtp import Mailer
from tests.corpus import corpus_agents


def test_registered_under_the_tines_type() -> None:
    assert action_type("Agents::EmailAgent") is send_email


def test_validate_accepts_the_corpus_shapes() -> None:
    assert send_email.validate({"recipients": "{{ .receive_form_request.body.requester_email}}",
                                "subject": "s", "body": "b"}) == []
    assert send_email.validate({"recipients": ["main@mail.com"], "subject": "s", "body": "b"}) == []
    assert send_email.validate({
        "recipients": "teamlead@yourdomain.com",
        "attachments": [{"filename": "report.csv", "base64encodedcontents": "{{.csv | base64_encode }}"}],
    }) == []


def test_validate_names_the_bad_option() -> None:
    assert send_email.validate({"subject": "s"}) == [
        "recipients: is required (an address, a comma-separated list or an array)"
    ]
    assert send_email.validate({"recipients": "ana@example.com", "cc": "not an address"}) == [
        "cc: 'not an address' is not an e-mail address"
    ]
    assert send_email.validate({"recipients": "a@example.com", "attachments": [{"filename": "x"}]}) == [
        "attachments[0]: needs filename and base64encodedcontents"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ana@example.com", ["ana@example.com"]),
        ("ana@example.com, bo@example.com", ["ana@example.com", "bo@example.com"]),
        ("ana@example.com; bo@example.com", ["ana@example.com", "bo@example.com"]),
        (["Ana <ana@example.com>", "bo@example.com"], ["Ana <ana@example.com>", "bo@example.com"]),
        # A list rendered without ``as_object`` arrives as its JSON text.
        ('["ana@example.com", "bo@example.com"]', ["ana@example.com", "bo@example.com"]),
        ("", []),
        (None, []),
    ],
)
def test_addresses(value: object, expected: list[str]) -> None:
    assert send_email.addresses(value, "recipients") == expected


def test_addresses_refuse_what_is_not_an_address() -> None:
    with pytest.raises(ActionError, match="recipients: 'alice' is not an e-mail address"):
        send_email.addresses("alice", "recipients")


def _message(body: str, **overrides: object) -> object:
    options: dict[str, object] = {
        "sender": "soc@example.com",
        "sender_name": "SOC bot",
        "recipients": ["ana@example.com"],
        "cc": [],
        "reply_to": [],
        "subject": "Alert",
        "body": body,
        "attachments": [],
        "now": 1_700_000_000.0,
    }
    options.update(overrides)
    return send_email.build_message(**options)  # type: ignore[arg-type]


def test_html_body_is_sent_as_html_with_the_sender_name() -> None:
    message = _message("Hello <b>Ana</b>,<br/>see below.")
    assert message["From"] == "SOC bot <soc@example.com>"
    assert message["To"] == "ana@example.com"
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "text/html"
    assert message.get_content() == "Hello <b>Ana</b>,<br/>see below.\n"


def test_body_without_tags_is_plain_text_so_its_lines_survive() -> None:
    message = _message("Search ID: 42\n\nPlease see attached results.")
    assert message.get_content_type() == "text/plain"
    assert "Search ID: 42\n\nPlease" in message.get_content()


def test_attachments_and_reply_to() -> None:
    message = _message(
        "<p>report</p>",
        reply_to=["soc-team@example.com"],
        cc=["boss@example.com"],
        attachments=[("report.csv", "text/csv", b"a,b\n1,2\n")],
    )
    assert message["Reply-To"] == "soc-team@example.com"
    assert message["Cc"] == "boss@example.com"
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "report.csv"
    assert part.get_content_type() == "text/csv"
    assert part.get_payload(decode=True) == b"a,b\n1,2\n"


def test_attachment_type_is_guessed_from_the_name_and_bad_base64_is_named() -> None:
    encoded = base64.b64encode(b"%PDF-1.4").decode()
    assert send_email.read_attachment({"filename": "scan.pdf", "base64encodedcontents": encoded}, 0) == (
        "scan.pdf", "application/pdf", b"%PDF-1.4"
    )
    with pytest.raises(ActionError, match=r"attachments\[1\].base64encodedcontents: is not base64"):
        send_email.read_attachment({"filename": "x", "base64encodedcontents": "@@@"}, 1)


def test_every_send_email_in_the_real_tines_exports_validates() -> None:
    actions = corpus_agents(send_email.TYPE)
    assert actions, "the corpus holds Send Email actions"
    problems = [(file, name, send_email.validate(options)) for file, name, options in actions]
    assert [p for p in problems if p[2]] == []


def test_smtp_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORYLINE_SMTP_HOST", raising=False)
    assert Mailer.from_settings(Settings.from_env()) is None
    monkeypatch.setenv("STORYLINE_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("STORYLINE_SMTP_PORT", "2525")
    monkeypatch.setenv("STORYLINE_SMTP_STARTTLS", "false")
    monkeypatch.setenv("STORYLINE_SMTP_USER", "soc@example.com")
    monkeypatch.setenv("STORYLINE_SMTP_PASSWORD_CREDENTIAL", "smtp_password")
    monkeypatch.delenv("STORYLINE_SMTP_FROM", raising=False)
    mailer = Mailer.from_settings(Settings.from_env())
    assert mailer == Mailer("smtp.example.com", 2525, starttls=False, user="soc@example.com",
                            password_credential="smtp_password")
    assert mailer.from_address == "soc@example.com"
    monkeypatch.delenv("STORYLINE_SMTP_STARTTLS")
    assert Settings.from_env().smtp_starttls is None  # unset: STARTTLS when the server offers it
    monkeypatch.setenv("STORYLINE_SMTP_STARTTLS", "sometimes")
    with pytest.raises(SystemExit, match="STORYLINE_SMTP_STARTTLS='sometimes' must be true or false"):
        Settings.from_env()

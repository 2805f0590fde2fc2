"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts.

    with FakeSmtp(user="mailer", password="pw") as smtp:   # login optional
        settings = replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, ...)
        ...
        (message,) = smtp.messages
        assert message["Subject"] == "..."

``refuse`` scripts answers to RCPT TO per address ("550 no such user",
"450 mailbox busy"), the way a real server turns recipients away.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.fakes.server import Running


@dataclass
class Received:
    """One accepted message: the envelope as the server saw it and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None = None

    def __getitem__(self, header: str) -> Any:
        return self.message[header]


@dataclass
class _Handler:
    refuse: dict[str, str] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = cast(EmailMessage, message_from_bytes(content, policy=default))
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, login))
        return "250 Message accepted for delivery"


class FakeSmtp(Running):
    def __init__(self, *, user: str | None = None, password: str | None = None) -> None:
        self.user = user
        self.password = password
        self._handler = _Handler()
        self.port = 0
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return self._handler.messages

    @property
    def refuse(self) -> dict[str, str]:
        return self._handler.refuse

    def reset(self) -> None:
        self._handler.messages.clear()
        self._handler.refuse.clear()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> Self:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._controller = Controller(
            self._handler,
            hostname="127.0.0.1",
            port=self.port,
            auth_required=self.user is not None,
            auth_require_tls=False,
            authenticator=self._authenticate,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


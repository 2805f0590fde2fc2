"""Outbound mail: the one SMTP server every Send Email action goes through.

Stories never name a mail server (Tines sends from its own); the operator sets it
once with ``STORYLINE_SMTP_*``. The password is not a setting but the name of a
credential, so it is stored encrypted like every other secret and redacted the
same way. Errors say what the server answered and whether trying again may help
(connection trouble and 4xx answers) or not (5xx answers, refused logins).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib

from storyline.egress.errors import EgressError

if TYPE_CHECKING:
    from storyline.config import Settings


class MailError(EgressError):
    """A message that did not leave; ``retryable`` says whether a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool, host: str = "") -> None:
        super().__init__(message, host=host)
        self.retryable = retryable


def _transient(code: int) -> bool:
    return 400 <= code < 500


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int = 587
    starttls: bool | None = None
    user: str = ""
    password_credential: str = ""
    sender: str = ""
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer | None:
        """``None`` when no SMTP host is configured: Send Email then fails saying so."""
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password_credential=settings.smtp_password_credential,
            sender=settings.smtp_from,
            timeout=settings.smtp_timeout,
        )

    @property
    def from_address(self) -> str:
        """The envelope and header sender: STORYLINE_SMTP_FROM, else the login when it is an address."""
        if self.sender:
            return self.sender
        return self.user if "@" in self.user else "storyline@localhost"

    @property
    def where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    async def send(self, message: EmailMessage, recipients: list[str], password: str | None) -> dict[str, str]:
        """Send to ``recipients`` (the envelope, Bcc included); returns the refused ones with the reason.

        Raises ``MailError`` when nobody received it.
        """
        try:
            refused, _reply = await aiosmtplib.send(
                message,
                sender=self.from_address,
                recipients=recipients,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                username=self.user or None,
                password=password if self.user else None,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"{self.where} refused the login as {self.user!r}: {exc.code} {exc.message}",
                retryable=_transient(exc.code), host=self.host,
            ) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise MailError(
                f"{self.where} refused every recipient ({reasons})",
                retryable=all(_transient(r.code) for r in exc.recipients), host=self.host,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailError(
                f"{self.where} answered {exc.code} {exc.message}", retryable=_transient(exc.code), host=self.host
            ) from None
        except aiosmtplib.SMTPNotSupported as exc:
            # STARTTLS demanded but not offered, or a login the server cannot take.
            raise MailError(f"{self.where}: {exc}", retryable=False, host=self.host) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise MailError(f"{self.where} is unreachable: {reason}", retryable=True, host=self.host) from None
        return {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}

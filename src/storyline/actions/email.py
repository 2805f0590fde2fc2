"""Send Email (``Agents::EmailAgent``): mail a rendered message through the configured SMTP server.

Options follow Tines (docs and the public story corpus): ``recipients`` (an address,
a comma-separated list or an array), ``cc``, ``bcc``, ``reply_to``, ``sender_name``,
``subject``, ``body`` (HTML allowed) and ``attachments``
(``[{filename, content_type, base64encodedcontents}]``). Tines sends from its own
address; storyline sends from ``STORYLINE_SMTP_FROM`` with ``sender_name`` as the
display name.

A body with HTML tags is sent as HTML; a body without any (several corpus stories
write plain text with ``\\n`` line breaks) is sent as plain text so its lines survive.

The emitted event says what was sent, never the body or the SMTP password:
``{"status": "sent", "message_id", "from", "recipients", "cc", "bcc", "subject",
"attachments": [filenames]}`` plus ``refused`` when the server turned some
recipients away. An unreachable server or a 4xx answer is retried by the queue;
5xx answers and refused logins fail the action at once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import mimetypes
import re
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses, make_msgid
from typing import Any, Final

import orjson

from storyline.actions.base import ActionError, Result, RunContext
from storyline.egress.smtp import MailError
from storyline.templating import TemplateError
from storyline.templating.values import is_templated, to_text

TYPE = "Agents::EmailAgent"
DESCRIPTION = "Send an e-mail (HTML body allowed) and emit the recipients, subject and message id."
PURE: Final = False

ADDRESS_OPTIONS = ("recipients", "cc", "bcc", "reply_to")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")


def validate(options: Mapping[str, Any]) -> list[str]:
    """Problems with the options as written, each naming the option."""
    problems: list[str] = []
    if options.get("recipients") in (None, "", []):
        problems.append("recipients: is required (an address, a comma-separated list or an array)")
    for name in ADDRESS_OPTIONS:
        value = options.get(name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item in (None, "") or is_templated(item):
                continue
            try:
                addresses(item, name)
            except ActionError as exc:
                problems.append(str(exc))
    attachments = options.get("attachments")
    if attachments not in (None, "", []) and not is_templated(attachments):
        if not isinstance(attachments, list):
            problems.append("attachments: must be an array of {filename, content_type, base64encodedcontents}")
        else:
            for index, item in enumerate(attachments):
                if not isinstance(item, Mapping) or "base64encodedcontents" not in item:
                    problems.append(f"attachments[{index}]: needs filename and base64encodedcontents")
    return problems


def _one_line(value: Any) -> str:
    """Header text: a template may leave line breaks, which a header must not carry."""
    return " ".join(to_text(value).split())


def addresses(value: Any, option: str) -> list[str]:
    """The addresses an option names, each checked; accepts a list, JSON array text or a comma list."""
    if value in (None, ""):
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(value)
    items = value if isinstance(value, list | tuple) else [value]
    found: list[str] = []
    for item in items:
        if item in (None, ""):
            continue
        text = to_text(item).replace(";", ",")
        for name, address in getaddresses([text]):
            if not address and not name:
                continue
            try:
                Address(addr_spec=address)
            except (ValueError, IndexError):
                address = ""
            if "@" not in address:
                raise ActionError(f"{option}: {(name or address or text).strip()!r} is not an e-mail address")
            found.append(formataddr((name, address)))
    return found


def read_attachment(item: Any, index: int) -> tuple[str, str, bytes]:
    """(filename, MIME type, bytes) of one ``attachments`` entry; the type is guessed from the name if absent."""
    where = f"attachments[{index}]"
    if not isinstance(item, Mapping):
        raise ActionError(f"{where}: must be an object with filename and base64encodedcontents")
    filename = _one_line(item.get("filename")) or f"attachment-{index + 1}"
    try:
        data = base64.b64decode("".join(to_text(item.get("base64encodedcontents")).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ActionError(f"{where}.base64encodedcontents: is not base64 ({exc})") from None
    content_type = _one_line(item.get("content_type")) or mimetypes.guess_type(filename)[0] or ""
    if content_type.count("/") != 1:
        content_type = "application/octet-stream"
    return filename, content_type, data


def build_message(
    *,
    sender: str,
    sender_name: str,
    recipients: list[str],
    cc: list[str],
    reply_to: list[str],
    subject: str,
    body: str,
    attachments: list[tuple[str, str, bytes]],
    now: float,
) -> EmailMessage:
    """The message as it goes on the wire (Bcc travels in the envelope only)."""
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender))
    message["To"] = ", ".join(recipients)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = ", ".join(reply_to)
    message["Subject"] = subject
    message["Date"] = formatdate(now, localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if _HTML_TAG.search(body):
        message.set_content(body, subtype="html")
    else:
        message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


async def run(ctx: RunContext) -> Result:
    """Render the message, send it, and emit what was sent."""
    mailer = ctx.mailer
    if mailer is None:
        raise ActionError("send email: no SMTP server is configured (set STORYLINE_SMTP_HOST, see the README)")

    recipients = addresses(ctx.option("recipients"), "recipients")
    cc = addresses(ctx.option("cc"), "cc")
    bcc = addresses(ctx.option("bcc"), "bcc")
    reply_to = addresses(ctx.option("reply_to"), "reply_to")
    if not recipients:
        raise ActionError("recipients: is empty after rendering")
    raw_attachments = ctx.option("attachments") or []
    if not isinstance(raw_attachments, list):
        raise ActionError("attachments: must be an array of {filename, content_type, base64encodedcontents}")
    attachments = [read_attachment(item, index) for index, item in enumerate(raw_attachments)]

    password = None
    if mailer.password_credential:
        try:
            password = ctx.scope.credential(mailer.password_credential)
        except TemplateError as exc:
            raise ActionError(f"STORYLINE_SMTP_PASSWORD_CREDENTIAL: {exc}") from None

    message = build_message(
        sender=mailer.from_address,
        sender_name=_one_line(ctx.option("sender_name")),
        recipients=recipients,
        cc=cc,
        reply_to=reply_to,
        subject=_one_line(ctx.option("subject")),
        body=to_text(ctx.option("body")),
        attachments=attachments,
        now=ctx.now,
    )
    envelope = [address for _, address in getaddresses([*recipients, *cc, *bcc])]
    try:
        refused = await mailer.send(message, envelope, password)
    except MailError as exc:
        raise ActionError(str(exc), retryable=exc.retryable) from None

    output: dict[str, Any] = {
        "status": "sent",
        "message_id": message["Message-ID"],
        "from": message["From"],
        "recipients": recipients,
        "cc": cc,
        "bcc": bcc,
        "subject": message["Subject"],
        "attachments": [filename for filename, _, _ in attachments],
    }
    logs: list[str] = []
    if refused:
        output["refused"] = refused
        logs.append(f"warning: {mailer.where} refused {', '.join(sorted(refused))}")
    return Result(events=[output], logs=logs)

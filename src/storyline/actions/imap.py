"""Receive Email (``Agents::IMAPAgent``): poll a mailbox, emit one event per new message.

Options follow Tines (docs and the public corpus): ``host``, ``port`` (default 993
with ``ssl``, else 143), ``username``, ``password`` (``{% credential x %}``), ``ssl``,
``disable_ssl_verification``, ``folders`` (default ``["INBOX"]``), ``conditions``,
``mark_as_read``, ``emit_headers``; ``manual_time`` and
``expected_update_period_in_days`` are accepted and ignored (the schedule decides).

One run is one poll (the scheduler runs it on the action's ``schedule``). As in Tines,
the first visit to a folder only notes where the mailbox stands and emits nothing;
later polls emit the messages that arrived since, oldest first, at most
``MAX_PER_POLL`` per folder (the rest come on the next poll). What was seen is kept in
the action's state, written in the same transaction as the events: per folder the
UIDVALIDITY and the last UID, plus the Message-IDs of the 100 most recent messages so
a message delivered twice (or to two folders) is emitted once.

``conditions`` maps a field of the emitted message to a regular expression that must
match it (``{"subject": "invoice", "from": "@example\\.com$"}``), or ``is_unread`` /
``has_attachment`` to true or false; every condition must hold.

Each event: ``message_id``, ``folder``, ``uid``, ``from``, ``to``, ``cc``,
``reply_to``, ``subject``, ``date``, ``body`` (the HTML part, else the text),
``text``, ``html``, ``is_unread``, ``attachments`` (``filename``, ``content_type``,
``sizeinbytes``, ``md5``, ``sha256``, and ``base64encodedcontents`` up to
``MAX_ATTACHMENT_BYTES``), and ``headers`` when ``emit_headers`` is true.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from typing import Any, Final, cast

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.rules import compile_regex, regex_failure, regex_problem
from storyline.egress.errors import EgressError
from storyline.egress.imap import Fetched, MailboxError, MailboxSession
from storyline.templating import regexes
from storyline.templating.values import is_templated, option_flag

TYPE = "Agents::IMAPAgent"
DESCRIPTION = "Poll an IMAP mailbox and emit one event per new message (headers, text, HTML, attachments)."
PURE: Final = False

MAX_PER_POLL = 100
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
RECENT_IDS = 100
TIMEOUT = 30.0

FLAG_CONDITIONS = ("is_unread", "has_attachment")
TEXT_FIELDS = ("from", "to", "cc", "reply_to", "subject", "date", "body", "text", "html", "message_id")
MESSAGE_IDS = "message_ids"


def validate(options: Mapping[str, Any]) -> list[str]:
    """Problems with the options as written, each naming the option."""
    problems: list[str] = []
    for name in ("host", "username", "password"):
        if options.get(name) in (None, ""):
            problems.append(f"{name}: is required")
    port = options.get("port")
    if port not in (None, "") and not is_templated(port) and _port(port) is None:
        problems.append(f"port: must be a TCP port number (got {port!r})")
    folders = options.get("folders")
    if folders not in (None, "", []) and not is_templated(folders) and not _folders(folders):
        problems.append('folders: must be a list of folder names, e.g. ["INBOX"]')
    conditions = options.get("conditions")
    if conditions not in (None, "", {}) and not is_templated(conditions):
        if not isinstance(conditions, Mapping):
            problems.append('conditions: must be an object, e.g. {"subject": "invoice"}')
        else:
            for key, value in conditions.items():
                if key in FLAG_CONDITIONS:
                    continue
                if key not in TEXT_FIELDS:
                    known = ", ".join((*TEXT_FIELDS, *FLAG_CONDITIONS))
                    problems.append(f"conditions.{key}: is not a message field (one of {known})")
                elif problem := regex_problem(value, f"conditions.{key}"):
                    problems.append(problem)
    return problems


def _port(value: Any) -> int | None:
    try:
        port = int(str(value).strip())
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _folders(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(item).strip() for item in items if isinstance(item, str) and item.strip()]


# -- messages -----------------------------------------------------------------------


def _header_values(message: Message, name: str) -> list[str]:
    """A header's values, decoded, on one line each; raw text when the parser cannot read one."""
    try:
        values = [str(value) for value in message.get_all(name, [])]
    except Exception:  # a malformed header a lenient reader still wants to see
        values = [str(raw) for key, raw in message.raw_items() if key.lower() == name.lower()]
    return [" ".join(value.split()) for value in values]


def _header(message: Message, name: str) -> str:
    values = _header_values(message, name)
    return values[0] if values else ""


def _headers(message: Message) -> dict[str, Any]:
    """Every header by name; a repeated one (``Received``) becomes a list, in order."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(message.keys()):
        values = _header_values(message, name)
        out[name] = values[0] if len(values) == 1 else values
    return out


def _content(part: Message | None) -> str:
    """A body part as text with ``\n`` line ends (the wire's CRLF would leak into every template)."""
    if part is None:
        return ""
    try:
        text = str(cast(EmailMessage, part).get_content())
    except (LookupError, ValueError, AssertionError):  # unknown charset, undecodable payload
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return text.replace("\r\n", "\n")


def _attachment(part: Message, index: int) -> dict[str, Any]:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):  # message/rfc822 and other structured attachments
        inner = part.get_payload()
        first = inner[0] if isinstance(inner, list) and inner else None
        data = first.as_bytes() if isinstance(first, Message) else b""
    content_type = part.get_content_type()
    name = part.get_filename() or (
        f"attachment-{index + 1}.eml" if content_type == "message/rfc822" else f"attachment-{index + 1}"
    )
    out: dict[str, Any] = {
        "filename": name,
        "content_type": content_type,
        "sizeinbytes": len(data),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if len(data) <= MAX_ATTACHMENT_BYTES:
        out["base64encodedcontents"] = base64.b64encode(data).decode("ascii")
    return out


def parse_message(fetched: Fetched, folder: str, *, emit_headers: bool) -> dict[str, Any]:
    """The event for one message."""
    message = message_from_bytes(fetched.raw, policy=default_policy)
    text = _content(message.get_body(preferencelist=("plain",)))
    html = _content(message.get_body(preferencelist=("html",)))
    attachments = [_attachment(part, index) for index, part in enumerate(message.iter_attachments())]
    out: dict[str, Any] = {
        "message_id": _header(message, "Message-ID"),
        "folder": folder,
        "uid": fetched.uid,
        "from": _header(message, "From"),
        "to": _header(message, "To"),
        "cc": _header(message, "Cc"),
        "reply_to": _header(message, "Reply-To"),
        "subject": _header(message, "Subject"),
        "date": _header(message, "Date"),
        "body": html or text,
        "text": text,
        "html": html,
        "is_unread": fetched.unread,
        "attachments": attachments,
    }
    if emit_headers:
        out["headers"] = _headers(message)
    return out


def matches(message: Mapping[str, Any], conditions: Mapping[str, Any]) -> bool:
    for key, expected in conditions.items():
        if key in FLAG_CONDITIONS:
            actual = bool(message["attachments"]) if key == "has_attachment" else bool(message["is_unread"])
            if actual != option_flag(expected):
                return False
        else:
            try:
                if not compile_regex(str(expected), True).search(str(message.get(key) or "")):
                    return False
            except regexes.RegexError as exc:
                raise regex_failure(exc, f"conditions.{key}") from None
    return True


# -- one poll -----------------------------------------------------------------------


@dataclass
class Poll:
    """What a poll found, and what the action must remember afterwards."""

    events: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    cursors: dict[str, dict[str, int]] = field(default_factory=dict)
    recent_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    use_ssl: bool
    verify: bool
    username: str
    password: str
    folders: list[str]
    conditions: Mapping[str, Any]
    mark_as_read: bool
    emit_headers: bool

    def cursor_bucket(self, folder: str) -> str:
        # A different server or account is a different mailbox: its UIDs mean nothing here.
        return f"cursor:{self.username}@{self.host}:{self.port}/{folder}"

    def poll(self, cursors: Mapping[str, Mapping[str, int] | None], recent_ids: list[str]) -> Poll:
        """One visit to every folder; blocking, so run it in a thread."""
        result = Poll(recent_ids=list(recent_ids))
        seen = set(recent_ids)
        with MailboxSession(self.host, self.port, use_ssl=self.use_ssl, verify=self.verify, timeout=TIMEOUT) as session:
            session.login(self.username, self.password)
            for folder in self.folders:
                status = session.select(folder, readonly=not self.mark_as_read)
                cursor = cursors.get(folder)
                if cursor is None or cursor.get("uidvalidity") != status.uidvalidity:
                    result.cursors[folder] = {"uidvalidity": status.uidvalidity, "last_uid": status.uidnext - 1}
                    why = "first visit to" if cursor is None else "UIDVALIDITY changed in"
                    result.logs.append(f"{why} {folder}: watching for messages from UID {status.uidnext} on")
                    continue
                uids = session.search_after(int(cursor["last_uid"]))
                if len(uids) > MAX_PER_POLL:
                    result.logs.append(f"{folder}: {len(uids)} new messages, taking the oldest {MAX_PER_POLL}")
                    uids = uids[:MAX_PER_POLL]
                if not uids:
                    continue
                emitted: list[int] = []
                for fetched in session.fetch(uids):
                    message = parse_message(fetched, folder, emit_headers=self.emit_headers)
                    message_id = message["message_id"]
                    if message_id and message_id in seen:
                        continue
                    if not matches(message, self.conditions):
                        continue
                    if message_id:
                        seen.add(message_id)
                        result.recent_ids.append(message_id)
                    result.events.append(message)
                    emitted.append(fetched.uid)
                if self.mark_as_read:
                    session.mark_seen(emitted)
                result.cursors[folder] = {"uidvalidity": status.uidvalidity, "last_uid": uids[-1]}
        result.recent_ids = result.recent_ids[-RECENT_IDS:]
        return result


def _mailbox(ctx: RunContext) -> Mailbox:
    host = str(ctx.option("host") or "").strip()
    if not host:
        raise ActionError("host: is empty after rendering")
    use_ssl = option_flag(ctx.option("ssl"))
    port_option = ctx.option("port")
    port = _port(port_option) if port_option not in (None, "") else (993 if use_ssl else 143)
    if port is None:
        raise ActionError(f"port: must be a TCP port number (got {port_option!r})")
    folders = _folders(ctx.option("folders")) or ["INBOX"]
    conditions = ctx.option("conditions") or {}
    if not isinstance(conditions, Mapping):
        raise ActionError('conditions: must be an object, e.g. {"subject": "invoice"}')
    for key, value in conditions.items():
        if key not in FLAG_CONDITIONS and (problem := regex_problem(value, f"conditions.{key}")):
            raise ActionError(problem)
    return Mailbox(
        host=host,
        port=port,
        use_ssl=use_ssl,
        verify=not option_flag(ctx.option("disable_ssl_verification")),
        username=str(ctx.option("username") or ""),
        password=str(ctx.option("password") or ""),
        folders=folders,
        conditions=conditions,
        mark_as_read=option_flag(ctx.option("mark_as_read")),
        emit_headers=option_flag(ctx.option("emit_headers")),
    )


async def _latest(ctx: RunContext, bucket: str) -> Any:
    assert ctx.recall is not None
    values = await ctx.recall(bucket)
    return values[-1] if values else None


async def run(ctx: RunContext) -> Result:
    """One poll of every folder; events for the new messages, state for the next poll."""
    if ctx.recall is None:
        raise ActionError("receive email: needs the action's state to know what it has seen (run it from a worker)")
    mailbox = _mailbox(ctx)
    if ctx.egress is not None:
        try:
            await ctx.egress.check_destination(mailbox.host, mailbox.port, "IMAP")
        except EgressError as exc:
            raise ActionError(str(exc), retryable=exc.retryable) from None
    cursors = {folder: await _latest(ctx, mailbox.cursor_bucket(folder)) for folder in mailbox.folders}
    recent_ids = await _latest(ctx, MESSAGE_IDS) or []
    try:
        poll = await asyncio.to_thread(mailbox.poll, cursors, recent_ids)
    except MailboxError as exc:
        raise ActionError(str(exc), retryable=exc.retryable) from None

    result = Result(events=poll.events, logs=poll.logs)
    for folder, cursor in poll.cursors.items():
        if cursor != cursors.get(folder):
            bucket = mailbox.cursor_bucket(folder)
            result.forget.append(bucket)
            result.remember.append((bucket, cursor))
    if poll.recent_ids != recent_ids:
        result.forget.append(MESSAGE_IDS)
        result.remember.append((MESSAGE_IDS, poll.recent_ids))
    return result

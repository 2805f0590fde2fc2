"""Reading a mailbox over IMAP: the few commands a poller needs, on the stdlib ``imaplib``.

``imaplib`` blocks, so callers run a whole session in a worker thread
(``asyncio.to_thread``). Errors come out as ``MailboxError`` saying what the server
answered and whether trying again may help: a refused connection or a timeout may
pass, a refused login or a missing folder will not. The password never appears in
them (servers answer a failed LOGIN without echoing it).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from storyline.egress.errors import EgressError

_UID = re.compile(rb"\bUID (\d+)")


class MailboxError(EgressError):
    def __init__(self, message: str, *, retryable: bool, host: str = "") -> None:
        super().__init__(message, host=host)
        self.retryable = retryable


@dataclass(frozen=True)
class Fetched:
    """One message as fetched (``BODY.PEEK[]``, so fetching does not mark it read)."""

    uid: int
    flags: tuple[str, ...]
    raw: bytes

    @property
    def unread(self) -> bool:
        return "\\Seen" not in self.flags


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int


def _text(data: list[bytes | None] | list[bytes] | None) -> str:
    parts = [item.decode(errors="replace") if isinstance(item, bytes) else str(item) for item in data or [] if item]
    return " ".join(parts)


class MailboxSession:
    """A logged-in IMAP connection; use as a context manager, from a worker thread."""

    def __init__(
        self, host: str, port: int, *, use_ssl: bool, verify: bool = True, timeout: float = 30.0
    ) -> None:
        self.host = host
        self.port = port
        self.use_ssl = use_ssl
        self.verify = verify
        self.timeout = timeout
        self.where = f"IMAP server {host}:{port}"
        self._conn: imaplib.IMAP4 | None = None

    def _fail(self, message: str, *, retryable: bool) -> MailboxError:
        return MailboxError(f"{self.where} {message}", retryable=retryable, host=self.host)

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def login(self, username: str, password: str) -> None:
        try:
            if self.use_ssl:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=self._context(), timeout=self.timeout
                )
            else:
                conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                # Never send a password in the clear when the server can encrypt.
                if "STARTTLS" in conn.capabilities:
                    conn.starttls(self._context())
        except ssl.SSLCertVerificationError as exc:
            raise self._fail(
                f"has an untrusted certificate ({exc.verify_message}); set disable_ssl_verification "
                "only for a server you control", retryable=False,
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._fail(f"is unreachable: {exc or type(exc).__name__}", retryable=True) from None
        self._conn = conn
        try:
            conn.login(username, password)
        except imaplib.IMAP4.abort as exc:
            raise self._fail(f"dropped the connection during login: {exc}", retryable=True) from None
        except imaplib.IMAP4.error as exc:
            raise self._fail(f"refused the login as {username!r}: {exc}", retryable=False) from None

    @property
    def conn(self) -> imaplib.IMAP4:
        assert self._conn is not None, "login first"
        return self._conn

    def _call(self, what: str, *args: str) -> list[bytes]:
        """One UID command; a NO/BAD answer or a dropped connection becomes a MailboxError."""
        try:
            status, data = self.conn.uid(what, *args)
        except imaplib.IMAP4.abort as exc:
            raise self._fail(f"dropped the connection ({what}): {exc}", retryable=True) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._fail(f"failed {what}: {exc}", retryable=True) from None
        if status != "OK":
            raise self._fail(f"answered {status} to {what}: {_text(data)}", retryable=False)
        return data

    def select(self, folder: str, *, readonly: bool) -> FolderStatus:
        try:
            status, data = self.conn.select(_quoted(folder), readonly=readonly)
        except imaplib.IMAP4.abort as exc:
            raise self._fail(f"dropped the connection (SELECT): {exc}", retryable=True) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._fail(f"cannot open folder {folder!r}: {exc}", retryable=False) from None
        if status != "OK":
            raise self._fail(f"cannot open folder {folder!r}: {_text(data)}", retryable=False)
        uidvalidity = _number(self.conn.response("UIDVALIDITY")[1])
        uidnext = _number(self.conn.response("UIDNEXT")[1])
        if uidnext is None:  # optional before IMAP4rev2: ask for the highest UID instead
            uids = self.search_after(0)
            uidnext = (uids[-1] if uids else 0) + 1
        return FolderStatus(uidvalidity or 0, uidnext)

    def search_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending (``N:*`` always names the highest, so filter it)."""
        data = self._call("SEARCH", f"UID {last_uid + 1}:*")  # no CHARSET argument
        uids = {int(token) for chunk in data if chunk for token in chunk.split() if token.isdigit()}
        return sorted(uid for uid in uids if uid > last_uid)

    def fetch(self, uids: list[int]) -> list[Fetched]:
        if not uids:
            return []
        data = self._call("FETCH", ",".join(map(str, uids)), "(UID FLAGS BODY.PEEK[])")
        found: list[Fetched] = []
        for index, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            meta, raw = item
            # Some servers send FLAGS after the literal: it arrives as the next bytes item.
            after = data[index + 1] if index + 1 < len(data) else b""
            meta += after if isinstance(after, bytes) else b""
            uid = _UID.search(meta)
            if uid is None:
                continue
            flags = tuple(flag.decode(errors="replace") for flag in imaplib.ParseFlags(meta))
            found.append(Fetched(int(uid.group(1)), flags, raw))
        return sorted(found, key=lambda message: message.uid)

    def mark_seen(self, uids: list[int]) -> None:
        if uids:
            self._call("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Seen)")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self._conn.logout()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _quoted(folder: str) -> str:
    """Folder names with spaces (``Junk E-mail``) must be quoted on the wire."""
    if folder.startswith('"') or not re.search(r'[\s"(){%*\\]', folder):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(data: list[bytes | None] | None) -> int | None:
    for item in data or []:
        if item and item.strip().isdigit():
            return int(item.strip())
    return None

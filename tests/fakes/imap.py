"""A real IMAP4rev1 server on 127.0.0.1 for tests: pymap's in-memory backend, one account.

    with FakeImap(user="soc@example.com", password="pw") as imap:
        imap.deliver(message)                 # APPEND over IMAP, as a mail server would file it
        ...                                    # the action polls 127.0.0.1:imap.port
        assert imap.flags()[uid] == ("\\Seen",)

The server runs on its own event loop in a daemon thread, so sync and async tests can
both use it; tests deliver and inspect through ``imaplib``, the same protocol the code
under test speaks.
"""

from __future__ import annotations

import asyncio
import imaplib
import threading
from argparse import Namespace
from email.message import EmailMessage
from typing import Self

from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, DictBackend, Login
from pymap.imap import IMAPServer
from pysasl.hashing import BuiltinHash

from tests.fakes.server import Running


class FakeImap(Running):
    def __init__(self, *, user: str = "soc@example.com", password: str = "imap-pw") -> None:
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    async def _serve(self, ready: threading.Event) -> None:
        args = Namespace(
            demo_data=False, demo_user=self.user, demo_password=self.password, host=self.host, port=0,
            debug=False, cert=None, key=None, passlib_cfg=None, tls=False, proxy_protocol=None,
            inherited_sockets=None,
        )
        # A test account needs no costly password hashing: every login would pay for it.
        config = Config.from_args(
            args, invalid_user_sleep=0.0, reject_dnsbl=False, hash_context=BuiltinHash(rounds=1)
        )
        login = Login(config)
        await DictBackend._add_demo_user(config, login)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(IMAPServer(login, config))
        server = await asyncio.start_server(callback, host=self.host, port=0)
        self.port = server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        ready.set()
        async with server:
            await self._stop.wait()

    def start(self) -> Self:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(ready)), name="fake-imap", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake IMAP server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)


    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=5)
        conn.login(self.user, self.password)
        return conn

    def deliver(self, message: EmailMessage | bytes, folder: str = "INBOX", *, seen: bool = False) -> int:
        """File a message in a folder (created if needed); returns its UID."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        conn = self.client()
        try:
            conn.create(folder)  # NO when it exists: fine
            status, data = conn.append(folder, "(\\Seen)" if seen else None, None, raw)
            assert status == "OK", data
            # [APPENDUID <uidvalidity> <uid>] (RFC 4315)
            return int(data[0].split(b"APPENDUID ", 1)[1].split(b"]", 1)[0].split()[1])
        finally:
            conn.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[str, ...]]:
        """Every message's flags by UID, as the server now holds them."""
        conn = self.client()
        try:
            conn.select(folder, readonly=True)
            _status, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            found: dict[int, tuple[str, ...]] = {}
            for item in data:
                if isinstance(item, bytes) and b"UID" in item:
                    uid = int(item.split(b"UID ", 1)[1].split(b")", 1)[0].split()[0])
                    found[uid] = tuple(flag.decode() for flag in imaplib.ParseFlags(item))
            return found
        finally:
            conn.logout()

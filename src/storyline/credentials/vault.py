"""Credentials and resources as one process sees them: decrypted, cached, refreshed, redacted.

A change committed to the store (``storyline credential set``, ``storyline resource set``, the
API) reaches every run that starts after it: the worker asks for a read begun after it leased a
run's jobs (``sync(since=...)``), and a webhook's response for one begun after the request
arrived. Between those, the store's version is checked at most every ``ttl`` seconds, and its
contents re-read only when the version changed. Tokens of
OAuth2 and HTTP-request credentials are fetched before an action that names them runs
(``prepare``), kept until shortly before they expire, and renewed after a 401.

Everything recorded passes through ``redact``: every value a credential has had in this
process becomes ``[credential:name]`` in every form it is written in (escaped, URL-encoded,
inside base64 such as ``basic_auth``'s), also when an upstream echoes it back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import orjson
from sqlalchemy.engine import Connection

from storyline.actions.base import ActionSpec
from storyline.credentials import stored, tokens
from storyline.credentials.cipher import Cipher
from storyline.credentials.model import Credential
from storyline.egress.carried import Carried
from storyline.egress.client import Egress
from storyline.egress.redaction import Redactor
from storyline.store.resources import load_resources
from storyline.templating import TemplateError

T = TypeVar("T")
Reader = Callable[[Callable[[Connection], Any]], Awaitable[Any]]

# Where options name a credential: {% credential x %}, CREDENTIAL.x, CREDENTIAL["x"].
_REFERENCE = re.compile(
    r"""\{%-?\s*credential\s+([A-Za-z0-9_-]+)|CREDENTIAL\s*(?:\.\s*|\[\s*\\?["']\s*)([A-Za-z0-9_-]+)"""
)
_RESOURCE_REFERENCE = re.compile(
    r"""\{%-?\s*resource\s+([A-Za-z0-9_-]+)|RESOURCE\s*(?:\.\s*|\[\s*\\?["']\s*)([A-Za-z0-9_-]+)"""
)


def named(options: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The credentials and the resources an action's options name, in any template form."""
    text = orjson.dumps(options, default=str).decode()
    return (frozenset(a or b for a, b in _REFERENCE.findall(text)),
            frozenset(a or b for a, b in _RESOURCE_REFERENCE.findall(text)))


RETIRED_VALUES = 256
"""Old token values still redacted after renewal (an upstream may echo a stale one)."""


class Vault:
    def __init__(self, cipher: Cipher | None = None, reader: Reader | None = None, ttl: float = 1.0) -> None:
        self.cipher = cipher
        self.ttl = ttl
        self.credentials: dict[str, Credential] = {}
        self.resources: dict[str, Any] = {}
        self._reader = reader
        self._version: tuple[object, ...] = ()
        self._current_since = float("-inf")  # when the read the vault holds began (time.monotonic)
        self._pending: tuple[float, asyncio.Task[None]] | None = None
        self._tokens: dict[str, tokens.Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._references: dict[int, tuple[Mapping[str, Any], frozenset[str]]] = {}
        self._retired: dict[str, str] = {}
        self._redactor = Redactor({})
        self._used: dict[str, float] = {}

    def expire(self) -> None:
        """Re-read the store at the next ``sync``: this process just changed it (the API)."""
        self._checked = 0.0

    # -- loading -------------------------------------------------------------------

    def load(self, conn: Connection, *, force: bool = False) -> tuple[Any, ...] | None:
        """Read the store if it changed (only reads: safe on a reader thread); ``apply`` the result.

        Raises ``CredentialKeyError`` when the key does not open the stored credentials.
        """
        version = stored.version(conn)
        if not force and version == self._version:
            return None
        loaded = stored.load_credentials(conn, self.cipher) if self.cipher is not None else {}
        return version, loaded, load_resources(conn)

    def apply(self, loaded: tuple[Any, ...]) -> None:
        version, credentials, resources = loaded
        for name, old in self.credentials.items():
            if credentials.get(name) != old:
                self._retire(name)
        self.credentials = credentials
        self.resources = resources
        self._version = version
        self._relabel()

    def refresh(self, conn: Connection, *, force: bool = False) -> None:
        began = time.monotonic()
        loaded = self.load(conn, force=force)
        self._hold(began, loaded)

    def _hold(self, began: float, loaded: tuple[Any, ...] | None) -> None:
        # Reads may finish out of order: only one begun later than what is held replaces it.
        if began > self._current_since:
            self._current_since = began
            if loaded is not None:
                self.apply(loaded)

    async def sync(self, *, since: float | None = None) -> None:
        """Hold what the store held at ``since`` (a ``time.monotonic()``), or within ``ttl``.

        Only a read begun after ``since`` will do: one already under way that began later is
        awaited rather than taken as done (a vault that marked itself checked when its read
        began let runs start on the old values while the read was still going).
        """
        if self._reader is None:
            return
        if since is None:
            since = time.monotonic() - self.ttl
        while self._current_since < since:
            pending = self._pending
            if pending is None or pending[0] < since:
                began = time.monotonic()
                task = asyncio.ensure_future(self._read(began))
                task.add_done_callback(_retrieved)  # a read no caller awaits any more may fail unheard
                pending = self._pending = (began, task)
            try:
                await asyncio.shield(pending[1])
            finally:
                if self._pending is pending and pending[1].done():
                    self._pending = None

    async def _read(self, began: float) -> None:
        assert self._reader is not None
        self._hold(began, await self._reader(self.load))

    # -- values --------------------------------------------------------------------

    def value(self, name: str) -> str:
        credential = self.credentials[name]
        if credential.kind == "text":
            return str(credential.secret["value"])
        token = self._tokens.get(name)
        if token is None:
            raise TemplateError(f"credential '{name}' ({credential.kind}) has no token yet; "
                                "it is fetched before the action that uses it runs")
        return token.value

    def referenced(self, action: ActionSpec) -> frozenset[str]:
        cached = self._references.get(action.id)
        if cached is not None and cached[0] is action.options:
            return cached[1]
        names = named(action.options)[0]
        self._references[action.id] = (action.options, names)
        return names

    def _dynamic(self, action: ActionSpec) -> list[Credential]:
        found = (self.credentials.get(name) for name in self.referenced(action))
        return [c for c in found if c is not None and c.kind != "text"]

    def ready(self, action: ActionSpec) -> bool:
        now = time.time()
        return all((token := self._tokens.get(c.name)) is not None and token.fresh(now)
                   for c in self._dynamic(action))

    async def prepare(self, action: ActionSpec, egress: Egress | None) -> None:
        await self.sync()
        for credential in self._dynamic(action):
            await self._ensure(credential, egress, renew=False)

    async def renew(self, names: set[str], egress: Egress | None) -> bool:
        """Fetch new tokens for these credentials; False when none of them has a token to renew."""
        renewed = False
        for name in sorted(names):
            credential = self.credentials.get(name)
            if credential is not None and credential.kind != "text":
                await self._ensure(credential, egress, renew=True)
                renewed = True
        return renewed

    async def _ensure(self, credential: Credential, egress: Egress | None, *, renew: bool) -> None:
        name = credential.name
        stale = self._tokens.get(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            current = self._tokens.get(name)
            if current is not None and current.fresh(time.time()) and not (renew and current is stale):
                return  # fresh, or renewed by another run while this one waited
            token = await tokens.fetch(credential, egress)
            self._retire(name)
            self._tokens[name] = token
            self._relabel()

    def use(self, egress: Egress | None) -> CredentialUse:
        return CredentialUse(self, egress)

    # -- redaction -----------------------------------------------------------------

    def _retire(self, name: str) -> None:
        token = self._tokens.pop(name, None)
        if token is not None:
            self._retired[token.value] = f"[credential:{name}]"
            while len(self._retired) > RETIRED_VALUES:
                self._retired.pop(next(iter(self._retired)))

    def _relabel(self) -> None:
        # The written forms of every value are worked out here, once per change, not per redaction.
        labels = dict(self._retired)
        for name, credential in self.credentials.items():
            secrets = [self._tokens[name].value] if name in self._tokens else []
            if credential.kind == "text":
                secrets.append(str(credential.secret["value"]))
            elif credential.kind == "oauth2":
                secrets.append(str(credential.secret["client_secret"]))
            labels.update(dict.fromkeys(secrets, f"[credential:{name}]"))
        self._redactor = Redactor(labels)

    def redact(self, value: T) -> T:
        return self._redactor(value)

    # -- last used -----------------------------------------------------------------

    def used(self, name: str) -> None:
        self._used[name] = time.time()

    def take_uses(self) -> dict[str, float]:
        """When each credential was last rendered since the previous call; housekeeping stores them
        (``stored.record_uses``) once a minute, so the data path never writes for it."""
        used, self._used = self._used, {}
        return used


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class CredentialUse(Mapping[str, str]):
    """The credentials one action run renders: the scope reads them here, so the run knows
    which ones it used, where they may be sent, and which to renew after a 401."""

    def __init__(self, vault: Vault, egress: Egress | None) -> None:
        self._vault = vault
        self._egress = egress
        self.used: set[str] = set()

    def __getitem__(self, name: str) -> str:
        value = self._vault.value(name)
        self.used.add(name)
        self._vault.used(name)
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._vault.credentials

    def __iter__(self) -> Iterator[str]:
        return iter(self._vault.credentials)

    def __len__(self) -> int:
        return len(self._vault.credentials)

    def carried(self) -> tuple[Carried, ...]:
        """The values this run rendered and where each may go; egress holds every hop to them."""
        carried = []
        for name in sorted(self.used):
            credential = self._vault.credentials.get(name)
            if credential is not None:
                carried.append(Carried(name, self._vault.value(name), credential.allowed_hosts, credential.allows))
        return tuple(carried)

    async def renew(self) -> bool:
        return await self._vault.renew(self.used, self._egress)

"""A browser under test: an app on a fresh database with a user per role, a clock moved by hand, and sign-in."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.testclient import TestClient

from storyline.accounts.passwords import hash_password
from storyline.config import Settings
from storyline.store.accounts import insert_user
from storyline.store.db import make_engine, upgrade
from storyline.web.app import create_app

PASSWORD = "correct horse battery staple"
USERS = {"admin": "ana@example.com", "editor": "eddie@example.com", "viewer": "vic@example.com"}
T0 = 1_800_000_000.0


@functools.cache
def password_hash() -> str:
    """:data:`PASSWORD`'s hash, made once: argon2id takes most of a second on a busy machine."""
    return hash_password(PASSWORD)


class Clock:
    """The app's time: starts at ``T0`` and moves only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def hidden(page: str, name: str) -> str:
    """The value of a form's hidden field ``name`` on ``page``."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no field {name} on the page:\n{page}"
    return found.group(1)


@dataclass
class Browser:
    client: TestClient
    clock: Clock
    database_url: str

    def sign_in(self, email: str, password: str = PASSWORD, next_path: str | None = None) -> httpx.Response:
        """Open the login page and submit it, as a person would (signed out first); answers the POST (not followed)."""
        self.client.cookies.delete("storyline_session")
        form_page = self.client.get("/login", params={} if next_path is None else {"next": next_path})
        fields = {"csrf_token": hidden(form_page.text, "csrf_token"), "next": hidden(form_page.text, "next"),
                  "email": email, "password": password}
        return self.client.post("/login", data=fields, follow_redirects=False)

    def csrf(self) -> str:
        """The signed-in session's CSRF token, from the sign-out form on the index."""
        return hidden(self.client.get("/").text, "csrf_token")


@contextmanager
def browser_on(database_url: str, *, users: dict[str, str] | None = None, base_url: str = "http://testserver",
               **settings: Any) -> Iterator[Browser]:
    """An app (no worker) on ``database_url`` with ``users`` (role: address), asking for HTML as browsers do."""
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        for role, email in (USERS if users is None else users).items():
            insert_user(conn, email, role, password_hash(), time.time())
    engine.dispose()
    clock = Clock()
    app = create_app(Settings(database_url=database_url, **settings), worker=False, clock=clock)
    with TestClient(app, base_url=base_url, headers={"accept": "text/html"}) as client:
        yield Browser(client, clock, database_url)

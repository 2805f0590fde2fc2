"""The first sign-in on a real `storyline serve`: the demo admin's password, or the first admin's setup link."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import environment, free_port, serve
from tests.signin import PASSWORD, hidden

pytestmark = pytest.mark.slow


def test_serve_demo_makes_a_demo_admin_and_prints_its_password_once(tmp_path: Path) -> None:
    port = free_port()
    server = serve(port, environment(f"sqlite:///{tmp_path}/demo.db"), tmp_path / "serve.log", "--demo")
    try:
        found = re.search(r"as demo@localhost, password (\S+)", server.output())
        assert found is not None, server.output()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"accept": "text/html"}) as browser:
            form = browser.get("/login").text
            answer = browser.post("/login", data={"email": "demo@localhost", "password": found.group(1),
                                                  "csrf_token": hidden(form, "csrf_token"), "next": "/"})
            assert answer.status_code == 303 and "storyline_session" in browser.cookies
            stories = browser.get("/api/v1/stories", headers={"accept": "application/json"})
            assert stories.status_code == 200 and stories.json()["stories"]
    finally:
        server.stop()
    assert server.output().count(found.group(1)) == 1


def test_serve_on_an_empty_database_prints_a_link_to_create_the_first_admin(tmp_path: Path) -> None:
    port = free_port()
    server = serve(port, environment(f"sqlite:///{tmp_path}/empty.db"), tmp_path / "serve.log")
    try:
        found = re.search(r"create the first admin at (http://\S+/setup\?token=\S+)", server.output())
        assert found is not None, server.output()
        with httpx.Client(headers={"accept": "text/html"}) as browser:
            page = browser.get(found.group(1))
            assert page.status_code == 200
            created = browser.post(f"http://127.0.0.1:{port}/setup", data={
                "token": hidden(page.text, "token"), "email": "root@example.com", "password": PASSWORD,
                "confirm": PASSWORD})
            assert created.status_code == 303
            assert "Signed in as root@example.com (admin)" in browser.get(f"http://127.0.0.1:{port}/").text
            assert browser.get(found.group(1)).status_code == 410
    finally:
        server.stop()

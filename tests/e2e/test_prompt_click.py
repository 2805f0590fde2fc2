"""A prompt link rendered by a real `storyline serve`, clicked over HTTP, drives the story on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyline.store.db import make_engine
from storyline.store.queries import list_events
from tests.builders import approval_story
from tests.e2e.processes import cli, environment, free_port, serve
from tests.support import eventually

pytestmark = pytest.mark.slow


def test_clicking_a_prompt_link_of_a_running_server(database_url: str, tmp_path: Path) -> None:
    story_file = tmp_path / "approval.json"
    story_file.write_text(json.dumps(approval_story()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(database_url, STORYLINE_PUBLIC_URL=base)
    cli("story", "import", str(story_file), env=env)
    engine = make_engine(database_url)

    def events(action: str) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return list_events(conn, action=action)

    def wait_for(action: str) -> list[dict[str, Any]]:
        return eventually(lambda: events(action), 30, f"an event from {action!r}")

    server = serve(port, env, tmp_path / "serve.log")
    try:
        assert httpx.post(f"{base}/webhook/alert/s", json={"ip": "192.0.2.7"}).status_code == 201
        [asked] = wait_for("Ask analyst")
        link = asked["output"]["yes"]
        assert link.startswith(f"{base}/prompt?")
        page = httpx.get(link)
        assert page.status_code == 200 and "recorded" in page.text
        [report] = wait_for("Report")
        assert report["output"] == {"ip": "192.0.2.7", "answer": "block", "run": asked["story_run"]}
        forged = httpx.get(link.replace("s=block", "s=ignore"))
        assert forged.status_code == 403
    finally:
        server.stop()
        engine.dispose()

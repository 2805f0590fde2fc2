"""`storyline serve --demo` answers as the enrichment services itself, unless the user points a host elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyline.store.db import make_engine
from storyline.store.queries import list_events
from tests.builders import HTTP, WEBHOOK, agent, story
from tests.e2e.processes import cli, environment, free_port, serve
from tests.fakes.virustotal import FakeVirusTotal
from tests.support import eventually

pytestmark = pytest.mark.slow


def lookup_story() -> dict[str, Any]:
    return story("Lookup", [
        agent(WEBHOOK, "Receive", path="lookup", secret="s", verbs="post"),
        agent(HTTP, "Search VirusTotal", method="get", headers={"x-apikey": "vt-test-key"},
              url="https://www.virustotal.com/api/v3/domains/{{ .receive.domain }}"),
        agent(HTTP, "Search URLhaus", method="post", content_type="form", headers={"Auth-Key": "demo"},
              url="https://urlhaus-api.abuse.ch/v1/host/", payload={"host": "{{ .receive.domain }}"}),
    ], [(0, 1), (1, 2)])


def test_demo_serves_the_sandbox_and_user_overrides_win(vt: FakeVirusTotal, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/demo.db"
    story_file = tmp_path / "lookup.json"
    story_file.write_text(json.dumps(lookup_story()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The user sends VirusTotal to their own fake; URLhaus is left to the sandbox.
    env = environment(database_url, STORYLINE_EGRESS_OVERRIDES=f"www.virustotal.com={vt.url}")
    cli("story", "import", str(story_file), env=env)
    engine = make_engine(database_url)

    server = serve(port, env, tmp_path / "serve.log", "--demo")
    try:
        assert "sandbox:" in server.output() and "urlhaus-api.abuse.ch" in server.output()
        assert "www.virustotal.com" not in server.output().split("sandbox:")[1].splitlines()[0]
        assert httpx.post(f"{base}/webhook/lookup/s", json={"domain": "evil-example.com"}).status_code == 201
        found = eventually(lambda: _events(engine, "Search URLhaus"), 30, server.output)
        assert found[0]["output"]["body"]["query_status"] == "ok"
        assert found[0]["output"]["body"]["urlhaus_reference"] == "https://urlhaus.abuse.ch/host/evil-example.com/"
        assert [c.path for c in vt.calls] == ["/api/v3/domains/evil-example.com"]
        assert httpx.get(f"{base}/_sandbox/messages").json() == {"messages": []}
    finally:
        server.stop()
        engine.dispose()


def _events(engine: Any, action: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list_events(conn, action=action)

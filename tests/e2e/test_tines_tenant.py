"""A story that keeps state through its own Tines tenant's API runs unchanged against ``serve``.

The Slack incident-bot pattern: a run creates a global resource at
``https://<tenant>.tines.io/api/v1/global_resources`` with the ``x-user-email`` / ``x-user-token``
headers, replaces it, a later run reads it as ``{{.RESOURCE...}}``, and a last one deletes it.
``STORYLINE_TINES_TENANT_HOSTS`` sends those requests to the server's own API, where the token
authenticates them like any script's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from storyline.store.db import make_engine
from storyline.store.queries import list_events
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story
from tests.e2e.processes import cli, cli_json, environment, free_port, serve
from tests.support import eventually

TENANT = "https://acme.tines.io/api/v1/global_resources"
HEADERS = {"x-user-email": "{{ .RESOURCE.tines_email }}", "x-user-token": "{{ .CREDENTIAL.tines_token }}"}


def incident_bot() -> dict[str, Any]:
    return story("Incident bot", [
        agent(WEBHOOK, "Open incident", path="incident-open", secret="s", verbs="post"),
        agent(HTTP, "Remember channel", method="post", url=TENANT, content_type="json", headers=HEADERS,
              payload={"name": "incident_{{ .open_incident.id }}", "value": "{{ .open_incident.channel }}",
                       "value_type": "text", "team_id": "8"}),
        agent(HTTP, "Mark triaged", method="put", url=TENANT + "/{{ .remember_channel.body.id }}",
              content_type="json", headers=HEADERS,
              payload={"name": "incident_{{ .open_incident.id }}",
                       "value": {"channel": "{{ .open_incident.channel }}", "status": "triaged"}}),
        agent(WEBHOOK, "Post update", path="incident-update", secret="s", verbs="post"),
        agent(TRANSFORM, "Where to post", mode="message_only",
              payload={"channel": "{{ .RESOURCE.incident_42.channel }}", "status": "{{ .RESOURCE.incident_42.status }}"}),
        agent(WEBHOOK, "Close incident", path="incident-close", secret="s", verbs="post"),
        agent(HTTP, "Forget channel", method="delete", url=TENANT + "/{{ .close_incident.resource_id }}",
              headers=HEADERS),
    ], [(0, 1), (1, 2), (3, 4), (5, 6)])


def outputs(database_url: str, action: str) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return [event["output"] for event in list_events(conn, action=action)]
    finally:
        engine.dispose()


def test_a_story_calling_its_tines_tenant_keeps_state_in_this_servers_resources(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(database_url, STORYLINE_TINES_TENANT_HOSTS="acme.tines.io")
    path = tmp_path / "incident-bot.json"
    path.write_text(json.dumps(incident_bot()))
    cli("story", "import", str(path), env=env)
    token = cli_json("token", "create", "tenant-bot", "--role", "admin", env=env)["token"]
    cli("credential", "set", "tines_token", "--value", token, "--allowed-host", "acme.tines.io", env=env)
    cli("resource", "set", "tines_email", "bot@example.com", env=env)
    server = serve(port, env, tmp_path / "serve.log")
    api = httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"})
    try:
        assert "acme.tines.io/api/v1/... reach" in server.output()
        assert httpx.post(f"{base}/webhook/incident-open/s", json={"id": 42, "channel": "C042"}).is_success

        def triaged() -> Any:
            listed = api.get("/api/v1/global_resources?typed_value=true").json()["global_resources"]
            return [r for r in listed if r["name"] == "incident_42" and r["value"] == {
                "channel": "C042", "status": "triaged"}]

        [resource] = eventually(triaged, 30, lambda: (outputs(database_url, "Mark triaged"), server.output()))
        [created] = outputs(database_url, "Remember channel")
        assert created["status"] == 201 and created["body"]["value_type"] == "text"

        assert httpx.post(f"{base}/webhook/incident-update/s", json={}).is_success
        eventually(lambda: outputs(database_url, "Where to post") == [{"channel": "C042", "status": "triaged"}],
                   30, lambda: outputs(database_url, "Where to post"))

        assert httpx.post(f"{base}/webhook/incident-close/s", json={"resource_id": resource["id"]}).is_success
        eventually(lambda: api.get(f"/api/v1/global_resources/{resource['id']}").status_code == 404, 30,
                   lambda: outputs(database_url, "Forget channel"))
        assert outputs(database_url, "Forget channel")[0]["status"] == 204

        audit = cli_json("audit", env=env)
        assert [(e["actor"], e["action"], e["target"]) for e in reversed(audit) if e["action"].startswith("resource.")
                and e["target"] == "incident_42"] == [("token:tenant-bot", "resource.set", "incident_42")] * 2 + [
                    ("token:tenant-bot", "resource.delete", "incident_42")]
        assert token not in server.output()
    finally:
        api.close()
        server.stop()

"""Event data never becomes code: the reported attack, run through a story to an outbound request.

A story maps a list with a field path taken from the webhook (``=MAP(map_hook.items,
map_hook.field)``). The sender made ``field`` a formula, ``name & "|" &
DOWNCASE(CREDENTIAL.apikey)``, and got the lower-cased credential (which redaction of the exact
value misses) into the event and the request the story sent on.
"""

from __future__ import annotations

from typing import Any

import orjson

from storyline.credentials import model as creds
from storyline.store.queries import list_logs
from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story
from tests.fakes.httpbin import FakeHttpbin
from tests.harness import Harness
from tests.integration.test_credentials import save

BIN = "https://httpbin.example"
SECRET = "SeCrEt-ApI-kEy-0042"
ITEMS = [{"name": "ann"}, {"name": "bob"}]
MAPPED = "=MAP(map_hook.items, map_hook.field)"


def mapping_story() -> dict[str, Any]:
    return story("Map hook", [
        agent(WEBHOOK, "Map hook", path="map", secret="s3cret", verbs="post"),
        agent(TRANSFORM, "Names", mode="message_only", payload={"names": MAPPED}),
        agent(HTTP, "Send names", url=f"{BIN}/anything", method="post", content_type="json",
              payload={"names": MAPPED, "text": "names: <<MAP(map_hook.items, map_hook.field)>>"}),
    ], [(0, 1), (1, 2)])


async def test_a_field_path_sent_to_a_webhook_cannot_read_a_credential(database_url: str, httpbin: FakeHttpbin) -> None:
    async with Harness(database_url, egress_overrides={"httpbin.example": httpbin.url}) as h:
        await save(h, creds.text("apikey", SECRET))
        await h.load(mapping_story())
        attack = await h.ingest("Map hook", {"items": ITEMS, "field": 'name & "|" & DOWNCASE(CREDENTIAL.apikey)'})
        await h.drain()

        events = h.events(run=attack.story_run)
        assert [e["action"] for e in events] == ["Map hook", "Names", "Send names"]
        assert events[1]["output"] == {"names": [None, None]}  # a path that leads nowhere
        [call] = httpbin.calls
        assert call.json() == {"names": [None, None], "text": "names: [null,null]"}
        with h.engine.connect() as conn:
            logs = list_logs(conn, limit=1000)
        seen = " ".join([orjson.dumps(h.events()).decode(), orjson.dumps(logs).decode(), repr(h.jobs()),
                         repr(call), call.text]).lower()
        assert SECRET.lower() not in seen

        # The same story still maps a path the sender names, as data.
        httpbin.reset()
        fine = await h.ingest("Map hook", {"items": ITEMS, "field": "name"})
        await h.drain()
        assert h.events(run=fine.story_run)[1]["output"] == {"names": ["ann", "bob"]}
        assert httpbin.calls[0].json() == {"names": ["ann", "bob"], "text": 'names: ["ann","bob"]'}

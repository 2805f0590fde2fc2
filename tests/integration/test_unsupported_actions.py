"""An action type storyline lacks is imported and kept, and refused with a clear error when a run reaches it."""

from __future__ import annotations

from storyline.tines.importer import parse_story
from tests.builders import WEBHOOK, agent, story
from tests.harness import Harness


async def test_a_run_reaching_an_unknown_action_type_records_a_clear_error(database_url: str) -> None:
    data = story("Ask a model", [agent(WEBHOOK, "Receive", path="ask", secret="s", verbs="post"),
                                 agent("Agents::LLMAgent", "Summarise", prompt="{{.receive.text}}")], [(0, 1)])
    _story, warnings = parse_story(data)
    assert any("cannot run Agents::LLMAgent" in w for w in warnings)
    async with Harness(database_url) as h:
        await h.load(data)
        await h.ingest("Receive", {"text": "hello"})
        await h.drain()
        [job] = [j for j in h.jobs() if j["action_id"] == h.action("Summarise").id]
    assert job["status"] == "failed"
    assert "action 'Summarise': storyline cannot run Agents::LLMAgent actions" in job["error"]
    assert "storyline tines check" in job["error"]

"""The benchmark's reference story does what the peers' workload expects of it.

bench/run.sh is not run by the suite, so this keeps its story honest: the peers' exact
slash-command form gets the peers' exact ack, and each of the two domains is looked up
and posted (bench.js's smoke test fails a system that does not).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.articles import deployment, install
from tests.fakes.httpbin import FakeHttpbin
from tests.support import eventually

STORY = Path(__file__).resolve().parents[2] / "bench" / "reference-story.json"
FORM = ("token=bench-token-0000&team_id=T0BENCH&channel_id=C0BENCH&user_name=alice"
        "&command=%2Fanalyzedomain&text=evil-example.com+and+login.bad-site.net")
EXPECTED_ACK = "Hi alice! Thanks for submitting your /analyzedomain request, we're analyzing now"


def test_the_peers_form_gets_the_peers_ack_and_both_domains_are_looked_up_and_posted(
    monkeypatch: pytest.MonkeyPatch, database_url: str, bin_server: FakeHttpbin
) -> None:
    bin_server.reset()
    story = json.loads(STORY.read_text())
    install(database_url, [story])
    echo = f"{bin_server.url}/anything"
    with deployment(monkeypatch, database_url, {"www.virustotal.com": echo, "slack.com": echo}) as running:
        response = running.client.post("/webhook/analyzedomain/bench", content=FORM,
                                       headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200
        assert response.text == EXPECTED_ACK
        eventually(lambda: len(bin_server.calls) >= 4, what=running.logs)
    lookups = sorted(c.params.get("domain", "") for c in bin_server.calls if "vtapi" in c.path)
    assert lookups == ["evil-example.com", "login.bad-site.net"]
    assert len([c for c in bin_server.calls if c.path.endswith("chat.postMessage")]) == 2

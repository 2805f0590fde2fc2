"""A story enriches domains from a chat command: extraction, VirusTotal, URLhaus, RDAP, verdicts.

The story keeps the real URLs; egress overrides send them to ``FakeEnrichment``, which
serves the demo sandbox's answers, so what a name gets is predictable (``evil``:
malicious, ``new``: 3 days old). Faults are scripted on the fake, never patched in.
"""

from __future__ import annotations

from typing import Any

from tests.builders import HTTP, TRANSFORM, WEBHOOK, agent, story
from tests.fakes.enrichment import FakeEnrichment
from tests.harness import Harness


def analyze_story(vt_key: str = "vt-key", path: str = "analyze") -> dict[str, Any]:
    vt_headers = {"x-apikey": vt_key} if vt_key else {}
    return story("Analyze domains", [
        agent(WEBHOOK, "Receive command", path=path, secret="s", verbs="post"),
        agent(TRANSFORM, "Extract", mode="message_only",
              payload={"found": "{{ .receive_command.text | extract_indicators: 3 | as_object }}"}),
        agent(TRANSFORM, "Explode domains", mode="explode", path="{{ .extract.found.domains | as_object }}",
              to="domain"),
        agent(HTTP, "Search VirusTotal", method="get", headers=vt_headers,
              url="https://www.virustotal.com/api/v3/domains/{{ .explode_domains.domain }}"),
        agent(HTTP, "Search URLhaus", method="post", content_type="form", headers={"Auth-Key": "uh-key"},
              url="https://urlhaus-api.abuse.ch/v1/host/", payload={"host": "{{ .explode_domains.domain }}"}),
        agent(HTTP, "Domain age", method="get",
              url="https://rdap.org/domain/{{ .explode_domains.domain | registered_domain }}"),
        agent(TRANSFORM, "Verdict", mode="message_only", payload={
            "domain": "{{ .explode_domains.domain }}",
            "lines": "=MAP_LAMBDA([VERDICT(search_virustotal, 'virustotal'), VERDICT(search_urlhaus, 'urlhaus'), "
                     "VERDICT(domain_age, 'rdap')], LAMBDA(v, v.summary))",
            "overall": "=OVERALL_LEVEL([VERDICT(search_virustotal, 'vt'), VERDICT(search_urlhaus, 'urlhaus'), "
                       "VERDICT(domain_age, 'rdap')])",
            "note": "{{ .extract.found.message }}",
        }),
    ], [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)])


async def verdicts(h: Harness, text: str) -> dict[str, dict[str, Any]]:
    ingested = await h.ingest("Receive command", {"text": text})
    await h.drain()
    return {e["output"]["domain"]: e["output"] for e in h.events(run=ingested.story_run) if e["action"] == "Verdict"}


async def test_every_source_answers(database_url: str, intel: FakeEnrichment) -> None:
    async with Harness(database_url, egress_overrides=intel.overrides()) as h:
        await h.load(analyze_story())
        out = await verdicts(h, "/analyzedomain evil-example[.]com www.new-site.com report.pdf unknown-site.org")

    assert set(out) == {"evil-example.com", "www.new-site.com", "unknown-site.org"}
    evil = out["evil-example.com"]
    assert evil["overall"] == "malicious"
    assert evil["lines"][0] == "VirusTotal: 12/94 engines flag it as malicious (phishing, phishing and fraud; reputation -45)"
    assert evil["lines"][1] == "URLhaus: 3 malware URLs, 1 online (spamhaus_dbl: abused_legit_malware, surbl: listed)"
    assert evil["lines"][2].startswith("Domain age: registered ") and evil["lines"][2].endswith("(2009-03-14)")
    young = out["www.new-site.com"]
    assert young["overall"] == "suspicious"  # clean on VirusTotal, but registered 3 days ago
    assert young["lines"][1] == "URLhaus: not found"
    assert young["lines"][2].startswith("Domain age: registered 3 days ago")
    assert out["unknown-site.org"]["lines"] == ["VirusTotal: not found", "URLhaus: not found", "Domain age: not found"]
    assert out["unknown-site.org"]["overall"] == "info"
    # RDAP was asked about the registered name, as registries only know those.
    assert {c.path for c in intel.calls if c.path.startswith("/rdap/")} == {
        "/rdap/domain/evil-example.com", "/rdap/domain/new-site.com", "/rdap/domain/unknown-site.org"}


async def test_a_429_is_retried_and_a_500_stays_in_its_line(database_url: str, intel: FakeEnrichment) -> None:
    intel.throttle(1, retry_after=0, path="/virustotal")
    intel.fail(500, times=None, path="/urlhaus")
    async with Harness(database_url, egress_overrides=intel.overrides()) as h:
        await h.load(analyze_story())
        out = await verdicts(h, "evil-example.com")
    assert out["evil-example.com"]["lines"][:2] == [
        "VirusTotal: 12/94 engines flag it as malicious (phishing, phishing and fraud; reputation -45)",
        "URLhaus: error (HTTP 500)",
    ]
    assert [c.fault for c in intel.calls if c.path.startswith("/virustotal")] == ["status 429", None]


async def test_no_key_is_not_configured_and_hides_nothing_else(database_url: str, intel: FakeEnrichment) -> None:
    async with Harness(database_url, egress_overrides=intel.overrides()) as h:
        await h.load(analyze_story(vt_key=""))
        out = await verdicts(h, "evil-example.com")
    assert out["evil-example.com"]["lines"][0] == (
        "VirusTotal: not configured (the API key was refused (AuthenticationRequiredError))")
    assert out["evil-example.com"]["overall"] == "malicious"  # URLhaus still says so


async def test_fifty_domains_are_cut_to_the_limit_with_a_note(database_url: str, intel: FakeEnrichment) -> None:
    text = " ".join(f"host{i}.example.com" for i in range(50))
    async with Harness(database_url, egress_overrides=intel.overrides()) as h:
        await h.load(analyze_story())
        out = await verdicts(h, text)
    assert sorted(out) == ["host0.example.com", "host1.example.com", "host2.example.com"]
    assert {o["note"] for o in out.values()} == {"Found 50 domains, looking up the first 3."}
    assert len([c for c in intel.calls if c.path.startswith("/virustotal")]) == 3


async def test_no_indicator_no_lookup(database_url: str, intel: FakeEnrichment) -> None:
    async with Harness(database_url, egress_overrides=intel.overrides()) as h:
        await h.load(analyze_story())
        assert await verdicts(h, "/analyzedomain please check invoice.zip and evil.test") == {}
    assert intel.calls == []

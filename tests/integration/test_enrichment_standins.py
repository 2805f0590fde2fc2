"""The enrichment stand-ins as a test drives them: each source's key rules and per-indicator answers.

The fakes serve ``storyline.standins.enrichment`` (what ``serve --demo`` serves), so a verdict a
test sets reaches the story exactly as a canned one does.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx

from tests.fakes.domain_age import FakeDomainAge
from tests.fakes.enrichment import FakeEnrichment
from tests.fakes.urlhaus import FakeUrlhaus
from tests.fakes.virustotal import FakeVirusTotal


def test_virustotal_v2_and_v3_report_the_same_verdict_for_the_set_key_only() -> None:
    with FakeVirusTotal("right-key") as vt:
        vt.set_domain("good.example", category="business", malicious=3)
        v3 = httpx.get(f"{vt.url}/api/v3/domains/good.example", headers={"x-apikey": "right-key"}).json()
        v2 = httpx.get(f"{vt.url}/vtapi/v2/domain/report", params={"apikey": "right-key", "domain": "good.example"}).json()
        assert v3["data"]["attributes"]["categories"] == {"Forcepoint ThreatSeeker": "business"}
        assert v3["data"]["attributes"]["last_analysis_stats"]["malicious"] == 3
        assert v2["Forcepoint ThreatSeeker category"] == "business" and v2["detected_urls"][0]["positives"] == 3

        wrong = httpx.get(f"{vt.url}/api/v3/domains/good.example", headers={"x-apikey": "wrong-key"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "WrongCredentialsError"
        refused = httpx.get(f"{vt.url}/vtapi/v2/domain/report", params={"apikey": "wrong-key", "domain": "x.com"})
        assert (refused.status_code, refused.content) == (403, b"")

        vt.unknown("good.example")
        gone = httpx.get(f"{vt.url}/api/v3/domains/good.example", headers={"x-apikey": "right-key"})
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "NotFoundError"
        v2 = httpx.get(f"{vt.url}/vtapi/v2/domain/report", params={"apikey": "right-key", "domain": "good.example"})
        assert v2.json()["response_code"] == 0


def test_virustotal_v2_answers_file_url_and_ip_reports_and_file_scans_as_the_2019_stories_call_them() -> None:
    eicar = "44d88612fea8a8f36de82e1278abb02f"
    with FakeVirusTotal("k") as vt:
        v2 = f"{vt.url}/vtapi/v2"
        file = httpx.get(f"{v2}/file/report", params={"apikey": "k", "resource": eicar}).json()
        assert file["response_code"] == 1 and file["positives"] > 0 and file["total"] >= file["positives"]
        url = httpx.post(f"{v2}/url/report", data={"apikey": "k", "resource": "http://evil-example.com/x"}).json()
        assert url["response_code"] == 1 and url["url"] == "http://evil-example.com/x" and url["positives"] > 0
        clean = httpx.get(f"{v2}/url/report", params={"apikey": "k", "resource": "http://example.org/"}).json()
        assert clean["response_code"] == 1 and clean["positives"] == 0
        ip = httpx.get(f"{v2}/ip-address/report", params={"apikey": "k", "ip": "45.9.148.1"}).json()
        assert ip["response_code"] == 1
        unknown = httpx.get(f"{v2}/file/report", params={"apikey": "k", "resource": "unknown"}).json()
        assert unknown["response_code"] == 0
        scan = httpx.post(f"{v2}/file/scan", data={"apikey": "k"}, files={"file": ("a.txt", b"hello")}).json()
        assert scan["response_code"] == 1 and scan["sha256"] == hashlib.sha256(b"hello").hexdigest()
        refused = httpx.get(f"{v2}/file/report", params={"apikey": "wrong", "resource": eicar})
        assert (refused.status_code, refused.content) == (403, b"")


def test_a_throttled_virustotal_says_quota_exceeded_with_retry_after() -> None:
    with FakeVirusTotal() as vt:
        vt.throttle(retry_after=30)
        answer = httpx.get(f"{vt.url}/api/v3/domains/a.com", headers={"x-apikey": "vt-test-key"})
        assert answer.status_code == 429 and answer.headers["retry-after"] == "30"
        assert answer.json()["error"]["code"] == "QuotaExceededError"


def test_urlhaus_wants_an_auth_key_unless_it_plays_the_2019_service() -> None:
    with FakeEnrichment() as intel, FakeUrlhaus() as old:
        assert httpx.post(f"{intel.url}/urlhaus/v1/host/", data={"host": "evil.com"}).status_code == 401
        intel.urlhaus.add_host("plain.example", "http://plain.example/x.exe")
        listed = httpx.post(f"{intel.url}/urlhaus/v1/host/", data={"host": "plain.example"},
                            headers={"Auth-Key": "k"}).json()
        assert listed["query_status"] == "ok" and listed["url_count"] == "1"
        assert [u["url"] for u in listed["urls"]] == ["http://plain.example/x.exe"]
        assert httpx.post(f"{old.url}/v1/host/", data={"host": "evil.com"}).json()["query_status"] == "ok"
        assert httpx.post(f"{old.url}/v1/host/", data={"host": "fine.com"}).json() == {"query_status": "no_results"}


def test_rdap_and_ipty_agree_on_a_domain_age_and_take_their_own() -> None:
    with FakeEnrichment() as intel, FakeDomainAge() as age:
        young = httpx.get(f"{intel.url}/rdap/domain/new-site.com").json()
        assert httpx.get(f"{age.url}/domage/api.php", params={"domain": "new-site.com"}).json()[
            "result"]["creation"]["fulldays"] == 3
        assert young["events"][0]["eventAction"] == "registration"

        intel.rdap.register("old-site.com", dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
        dated = httpx.get(f"{intel.url}/rdap/domain/old-site.com").json()
        assert dated["events"][0]["eventDate"] == "2001-01-01T00:00:00Z"
        intel.rdap.unknown("old-site.com")
        assert httpx.get(f"{intel.url}/rdap/domain/old-site.com").status_code == 404

        age.ages["old-site.com"] = 12
        assert httpx.get(f"{age.url}/domage/api.php", params={"domain": "old-site.com"}).json()[
            "result"]["creation"]["fulldays"] == 12

"""One verdict per enrichment source, from what an HTTP Request action emitted.

Answers come from the sandbox's builders (the same JSON the demo and the fakes serve)
and from the vendors' documented examples; failures are the HTTP statuses each
service really answers with.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from storyline.standins.enrichment.profiles import profile
from storyline.standins.enrichment.rdap import rdap_domain
from storyline.standins.enrichment.urlhaus import urlhaus_host, urlhaus_payload, urlhaus_url
from storyline.standins.enrichment.virustotal import virustotal_object, vt_url_id
from storyline.templating import StaticScope, TemplateError, render_value
from storyline.verdicts import overall_level, verdict

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()


def http(body: Any, status: int = 200) -> dict[str, Any]:
    """What an HTTP Request action emits."""
    return {"status": status, "headers": {"content-type": "application/json"}, "body": body}


def vt(kind: str, ident: str) -> dict[str, Any]:
    return http(virustotal_object(kind, ident, profile(ident)))


# -- VirusTotal -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "ident", "level", "summary"),
    [
        ("domain", "evil-example.com", "malicious",
         "VirusTotal: 12/94 engines flag it as malicious (phishing, phishing and fraud; reputation -45)"),
        ("domain", "sus-example.com", "suspicious",
         "VirusTotal: 2/94 engines flag it as suspicious (newly registered websites; reputation -3)"),
        ("domain", "example.com", "safe",
         "VirusTotal: 0/94 engines flag it (computersandsoftware, information technology; reputation 12)"),
        ("ip_address", "45.9.148.108", "malicious", "VirusTotal: 12/94 engines flag it as malicious (reputation -45)"),
        ("file", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
         "malicious", "VirusTotal: 12/94 engines flag it as malicious (reputation -45)"),
    ],
)
def test_virustotal_objects(kind: str, ident: str, level: str, summary: str) -> None:
    result = verdict(vt(kind, ident), "virustotal")
    assert (result["status"], result["level"], result["summary"]) == ("ok", level, summary)
    assert result["source"] == "virustotal" and result["name"] == "VirusTotal"


def test_virustotal_details_and_link() -> None:
    result = verdict(vt("domain", "evil-example.com"), "vt")
    assert result["value"] == "13/94"
    assert result["reference"] == "https://www.virustotal.com/gui/domain/evil-example.com"
    assert result["details"] == {"malicious": 12, "suspicious": 1, "total": 94, "reputation": -45,
                                 "categories": ["phishing", "phishing and fraud"]}
    url_id = vt_url_id("http://evil.example.org/x")
    assert verdict(vt("url", url_id), "virustotal")["reference"] == f"https://www.virustotal.com/gui/url/{url_id}"
    assert verdict(vt("ip_address", "8.8.8.8"), "virustotal")["reference"].endswith("/gui/ip-address/8.8.8.8")


def test_virustotal_never_analysed_is_info_not_safe() -> None:
    body = {"data": {"id": "x.com", "type": "domain", "attributes": {"last_analysis_stats": {}}}}
    assert verdict(body, "virustotal")["level"] == "info"
    assert verdict(body, "virustotal")["summary"] == "VirusTotal: no engine has analysed it yet"


# -- failures, the same for every source -------------------------------------------------------------

VT_ERROR = {"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}


@pytest.mark.parametrize(
    ("response", "status", "summary"),
    [
        (None, "not_configured", "VirusTotal: not configured"),
        ("", "not_configured", "VirusTotal: not configured"),
        (http({"error": {"code": "AuthenticationRequiredError", "message": "X-Apikey header is missing"}}, 401),
         "not_configured", "VirusTotal: not configured (the API key was refused (AuthenticationRequiredError))"),
        (http({"error": {"code": "ForbiddenError", "message": "premium"}}, 403), "not_configured",
         "VirusTotal: not configured (the API key was refused (ForbiddenError))"),
        (http({"error": {"code": "NotFoundError", "message": "not found"}}, 404), "not_found", "VirusTotal: not found"),
        (http(VT_ERROR, 429), "rate_limited", "VirusTotal: rate limited, retrying"),
        (http("<html>Bad gateway</html>", 502), "error", "VirusTotal: error (HTTP 502)"),
        (http({"error": {"code": "TransientError", "message": "retry"}}, 503), "error",
         "VirusTotal: error (HTTP 503 (TransientError))"),
        ({"status": 0, "headers": {}, "body": ""}, "error", "VirusTotal: no answer (timeout or connection refused)"),
        (http("not json"), "error", "VirusTotal: unreadable answer (not a JSON object)"),
        ({"error": {"code": "NotFoundError"}}, "not_found", "VirusTotal: not found"),
    ],
)
def test_failures(response: Any, status: str, summary: str) -> None:
    result = verdict(response, "virustotal")
    assert (result["status"], result["level"], result["summary"]) == (status, "info", summary)


def test_a_bare_body_or_json_text_reads_like_the_event() -> None:
    body = virustotal_object("domain", "evil.com", profile("evil.com"))
    assert verdict(body, "virustotal")["level"] == "malicious"
    assert verdict(http(json.dumps(body)), "virustotal")["level"] == "malicious"


def test_an_unknown_source_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown enrichment source 'shodan'"):
        verdict({}, "shodan")


# -- URLhaus ------------------------------------------------------------------------------------------

# abuse.ch's documented host answer (as recorded in public integrations' test data).
URLHAUS_DOC_HOST = {
    "query_status": "ok",
    "urlhaus_reference": "https://urlhaus.abuse.ch/host/vektorex.com/",
    "host": "vektorex.com",
    "firstseen": "2019-01-15 07:09:01 UTC",
    "url_count": "120",
    "blacklists": {"spamhaus_dbl": "abused_legit_malware", "surbl": "not listed"},
    "urls": [{"id": "121319", "url": "http://vektorex.com/source/Z/5016223.exe", "url_status": "online",
              "date_added": "2019-02-11 07:45:05 UTC", "threat": "malware_download", "larted": "false",
              "takedown_time_seconds": "", "tags": ["AZORult", "exe"]}],
}


@pytest.mark.parametrize(
    ("body", "status", "level", "summary"),
    [
        (URLHAUS_DOC_HOST, "ok", "malicious",
         "URLhaus: 120 malware URLs, 1 online (spamhaus_dbl: abused_legit_malware)"),
        (urlhaus_host("evil-example.com", profile("evil-example.com")), "ok", "malicious",
         "URLhaus: 3 malware URLs, 1 online (spamhaus_dbl: abused_legit_malware, surbl: listed)"),
        (urlhaus_host("sus.example.com", profile("sus.example.com")), "ok", "suspicious",
         "URLhaus: 1 malware URLs, none online now"),
        (urlhaus_host("45.9.148.108", profile("45.9.148.108")), "ok", "malicious",
         "URLhaus: 3 malware URLs, 1 online"),
        (urlhaus_url("http://evil.example.org/a", profile("evil")), "ok", "malicious",
         "URLhaus: listed for malware_download (online)"),
        (urlhaus_url("http://sus.example.org/a", profile("sus")), "ok", "suspicious",
         "URLhaus: listed for malware_download (offline)"),
        (urlhaus_payload("44d88612fea8a8f36de82e1278abb02f", profile("44d88612fea8a8f36de82e1278abb02f")),
         "ok", "malicious", "URLhaus: known malware payload (Mozi), served by 2 URLs"),
        (urlhaus_host("example.com", profile("example.com")), "not_found", "info", "URLhaus: not found"),
        ({"query_status": "invalid_host"}, "error", "info", "URLhaus: error (invalid_host)"),
        ({"query_status": "ok", "host": "x.com", "url_count": "0", "urls": []}, "ok", "info",
         "URLhaus: no malware URLs"),
    ],
)
def test_urlhaus(body: dict[str, Any], status: str, level: str, summary: str) -> None:
    result = verdict(http(body), "urlhaus")
    assert (result["status"], result["level"], result["summary"]) == (status, level, summary)


def test_urlhaus_without_a_key() -> None:
    result = verdict(http({"query_status": "unknown_auth_key"}, 401), "urlhaus")
    assert result["status"] == "not_configured"
    assert result["summary"].startswith("URLhaus: not configured")


# -- RDAP ---------------------------------------------------------------------------------------------


def test_domain_age_from_the_registration_event() -> None:
    old = verdict(http(rdap_domain("example.com", profile("example.com"))), "rdap", now=NOW)
    assert (old["status"], old["level"]) == ("ok", "info")
    assert old["summary"] == "Domain age: registered 6196 days ago (2009-03-14)"
    assert old["details"]["age_days"] == 6196 and old["details"]["registered"] == "2009-03-14T00:00:00Z"
    assert old["reference"] == "https://rdap.org/domain/example.com"

    young = verdict(http(rdap_domain("new-example.com", profile("new-example.com", NOW))), "rdap", now=NOW)
    assert (young["level"], young["value"]) == ("suspicious", "3 days")
    assert young["summary"] == "Domain age: registered 3 days ago (2026-02-26), younger than 30 days"
    # the threshold is the optional third argument
    assert verdict(http(rdap_domain("new.com", profile("new.com", NOW))), "rdap", 2, now=NOW)[
        "level"] == "info"


def test_domain_age_unknown_or_missing() -> None:
    assert verdict(http({"objectClassName": "domain", "events": []}), "domain_age")["summary"] == (
        "Domain age: unknown (no registration date)")
    assert verdict(http({"errorCode": 404, "title": "Not Found"}, 404), "rdap")["status"] == "not_found"


# -- overall ------------------------------------------------------------------------------------------


def test_overall_level_counts_answered_sources_only() -> None:
    mal = verdict(vt("domain", "evil.com"), "virustotal")
    safe = verdict(vt("domain", "example.com"), "virustotal")
    missing = verdict(None, "urlhaus")
    assert overall_level([safe, mal, missing]) == "malicious"
    assert overall_level([safe, missing]) == "safe"
    assert overall_level([missing, verdict(http({}, 500), "rdap")]) == "info"
    assert overall_level([]) == "info"


# -- as a filter and a function -----------------------------------------------------------------------


def test_verdict_filter_and_function() -> None:
    event = {"search_virustotal": vt("domain", "evil-example.com"), "search_urlhaus": http({"query_status": "no_results"})}
    scope = StaticScope()
    assert render_value('{{ .search_virustotal | verdict: "virustotal" | get: "summary" }}', event, scope) == (
        "VirusTotal: 12/94 engines flag it as malicious (phishing, phishing and fraud; reputation -45)")
    assert render_value('=VERDICT(search_urlhaus, "urlhaus").status', event, scope) == "not_found"
    assert render_value('=OVERALL_LEVEL([VERDICT(search_virustotal, "vt"), VERDICT(search_urlhaus, "urlhaus")])',
                        event, scope) == "malicious"
    assert render_value('{{ .no_such_action | verdict: "virustotal" | get: "summary" }}', event, scope) == (
        "VirusTotal: not configured")
    with pytest.raises(TemplateError, match="verdict: unknown enrichment source 'nope'"):
        render_value('{{ .search_virustotal | verdict: "nope" }}', event, scope)

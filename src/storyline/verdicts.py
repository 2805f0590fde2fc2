"""One verdict per enrichment source, from what an HTTP Request action emitted.

A chat reply lists every source's answer in the same words whatever went wrong, so each
lookup (VirusTotal v3, URLhaus, RDAP) is read into::

    {"source": "virustotal", "name": "VirusTotal",
     "status": "ok | not_found | not_configured | rate_limited | error",
     "level": "info | safe | suspicious | malicious",
     "summary": "VirusTotal: 12/94 engines flag it as malicious (phishing)",
     "value": "12/94", "reference": "https://www.virustotal.com/gui/domain/...", "details": {...}}

``level`` follows TheHive/Cortex's taxonomy; ``status`` keeps "not in URLhaus" or "no
key" from reading as "safe": only an ``ok`` answer can be ``safe``. The input is the
HTTP Request event (``{status, headers, body}``) or a bare response body; nothing at all
(the lookup was skipped because no key is set) reads as ``not_configured``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

LEVELS = ("info", "safe", "suspicious", "malicious")
"""Worst last: ``overall_level`` picks the highest."""

NAMES = {"virustotal": "VirusTotal", "urlhaus": "URLhaus", "rdap": "Domain age"}
ALIASES = {"vt": "virustotal", "domain_age": "rdap", "whois": "rdap"}

YOUNG_DOMAIN_DAYS = 30
"""A domain registered fewer days ago than this is suspicious (phishing domains are days old)."""

_VT_GUI = {"domain": "domain", "ip_address": "ip-address", "url": "url", "file": "file"}


def _source(source: Any) -> str:
    key = str(source or "").strip().lower().replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in NAMES:
        raise ValueError(f"unknown enrichment source {source!r} (one of: {', '.join(NAMES)})")
    return key


def _result(source: str, status: str, level: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": source,
        "name": NAMES[source],
        "status": status,
        "level": level,
        "summary": f"{NAMES[source]}: {text}",
        "value": extra.pop("value", ""),
        "reference": extra.pop("reference", ""),
        "details": extra,
    }


def _int(value: Any) -> int:
    """URLhaus sends numbers as strings; absent or odd values count as 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _split(response: Any) -> tuple[int | None, Any]:
    """(HTTP status or None, body) from an HTTP Request event or a bare body."""
    if isinstance(response, Mapping) and "status" in response and ("body" in response or "headers" in response):
        status = response.get("status")
        body = response.get("body")
        code = _int(status) if status not in (None, "") else 0
    else:
        code, body = None, response
    if isinstance(body, str) and body.strip()[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return code, body


def _error_code(body: Any) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return str(error.get("code") or error.get("message") or "")
    return str(error or "")


def _http_failure(source: str, code: int | None, body: Any) -> dict[str, Any] | None:
    """The verdict an unsuccessful answer gets, whatever the source (None: read the body)."""
    if code is None or 200 <= code < 300:
        return None
    reason = _error_code(body)
    detail = f" ({reason})" if reason else ""
    if code == 0:
        return _result(source, "error", "info", "no answer (timeout or connection refused)", http_status=0)
    if code in (401, 403):
        return _result(source, "not_configured", "info", f"not configured (the API key was refused{detail})",
                       http_status=code)
    if code == 404:
        return _result(source, "not_found", "info", "not found", http_status=code)
    if code == 429:
        return _result(source, "rate_limited", "info", "rate limited, retrying", http_status=code)
    return _result(source, "error", "info", f"error (HTTP {code}{detail})", http_status=code)


def verdict(response: Any, source: Any, young_days: Any = None, now: float | None = None) -> dict[str, Any]:
    """Read one lookup's answer into a verdict (see the module docstring)."""
    key = _source(source)
    if response is None or response == "" or response == {}:
        return _result(key, "not_configured", "info", "not configured")
    code, body = _split(response)
    failure = _http_failure(key, code, body)
    if failure is not None:
        return failure
    if not isinstance(body, Mapping):
        return _result(key, "error", "info", "unreadable answer (not a JSON object)", http_status=code)
    if key == "rdap":
        days = YOUNG_DOMAIN_DAYS if young_days in (None, "") else _int(young_days)
        return _rdap(body, days, time.time() if now is None else now)
    return _READERS[key](body)


def _virustotal(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("attributes"), Mapping):
        code = _error_code(body)
        if code == "NotFoundError":
            return _result("virustotal", "not_found", "info", "not found")
        return _result("virustotal", "error", "info", f"unreadable answer{f' ({code})' if code else ''}")
    attributes = data["attributes"]
    stats = attributes.get("last_analysis_stats") or {}
    malicious, suspicious = _int(stats.get("malicious")), _int(stats.get("suspicious"))
    total = sum(_int(v) for v in stats.values()) if isinstance(stats, Mapping) else 0
    categories = attributes.get("categories") or {}
    labels = sorted({str(c).strip().lower() for c in categories.values() if str(c).strip()}) if isinstance(
        categories, Mapping) else []
    reputation = attributes.get("reputation")
    if malicious:
        level, text = "malicious", f"{malicious}/{total} engines flag it as malicious"
    elif suspicious:
        level, text = "suspicious", f"{suspicious}/{total} engines flag it as suspicious"
    elif _int(stats.get("harmless")):
        level, text = "safe", f"0/{total} engines flag it"
    else:
        level, text = "info", "no engine has analysed it yet" if not total else f"0/{total} engines flag it"
    notes = ([", ".join(labels)] if labels else []) + (
        [f"reputation {reputation}"] if isinstance(reputation, int) and reputation else [])
    if notes:
        text += f" ({'; '.join(notes)})"
    kind, ident = str(data.get("type") or ""), str(data.get("id") or "")
    reference = f"https://www.virustotal.com/gui/{_VT_GUI[kind]}/{ident}" if kind in _VT_GUI and ident else ""
    return _result("virustotal", "ok", level, text, value=f"{malicious + suspicious}/{total}", reference=reference,
                   malicious=malicious, suspicious=suspicious, total=total, categories=labels,
                   reputation=reputation if isinstance(reputation, int) else None)


def _urlhaus(body: Mapping[str, Any]) -> dict[str, Any]:
    status = str(body.get("query_status") or "")
    reference = str(body.get("urlhaus_reference") or "")
    if status in ("no_results", "hash_not_found"):
        return _result("urlhaus", "not_found", "info", "not found")
    if status != "ok":
        return _result("urlhaus", "error", "info", f"error ({status or 'no query_status'})")
    if "md5_hash" in body or "sha256_hash" in body:
        signature = body.get("signature") or body.get("file_type") or "unknown family"
        count = _int(body.get("url_count"))
        return _result("urlhaus", "ok", "malicious", f"known malware payload ({signature}), served by {count} URLs",
                       value=str(signature), reference=reference, url_count=count)
    if "url_status" in body:
        url_status = str(body.get("url_status") or "unknown")
        threat = str(body.get("threat") or "malware")
        level = "malicious" if url_status == "online" else "suspicious"
        return _result("urlhaus", "ok", level, f"listed for {threat} ({url_status})", value=threat,
                       reference=reference, url_status=url_status, threat=threat, tags=body.get("tags") or [])
    urls = found if isinstance(found := body.get("urls"), list) else []
    count = _int(body.get("url_count")) or len(urls)
    online = sum(1 for u in urls if isinstance(u, Mapping) and u.get("url_status") == "online")
    blacklists = found if isinstance(found := body.get("blacklists"), Mapping) else {}
    listed = [f"{name}: {value}" for name, value in blacklists.items() if value and value != "not listed"]
    if not count:
        level, text = "info", "no malware URLs"
    elif online:
        level, text = "malicious", f"{count} malware URLs, {online} online"
    else:
        level, text = "suspicious", f"{count} malware URLs, none online now"
    if listed:
        text += f" ({', '.join(listed)})"
    return _result("urlhaus", "ok", level, text, value=str(count), reference=reference, url_count=count,
                   online=online, blacklists=dict(blacklists))


def _rdap(body: Mapping[str, Any], young_days: int, now: float) -> dict[str, Any]:
    events = found if isinstance(found := body.get("events"), list) else []
    registered = next((e.get("eventDate") for e in events
                       if isinstance(e, Mapping) and e.get("eventAction") == "registration"), None)
    name = str(body.get("ldhName") or "").lower()
    reference = next((str(link.get("href")) for link in body.get("links") or []
                      if isinstance(link, Mapping) and link.get("rel") == "self" and link.get("href")), "")
    try:
        when = dt.datetime.fromisoformat(str(registered).replace("Z", "+00:00")) if registered else None
    except ValueError:
        when = None
    if when is None:
        return _result("rdap", "ok", "info", "unknown (no registration date)", reference=reference, domain=name)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    days = max(0, int((now - when.timestamp()) // 86400))
    age = f"{days} day{'s' if days != 1 else ''}"
    level = "suspicious" if days < young_days else "info"
    text = f"registered {age} ago ({when.date().isoformat()})"
    if level == "suspicious":
        text += f", younger than {young_days} days"
    return _result("rdap", "ok", level, text, value=age, reference=reference, domain=name, age_days=days,
                   registered=when.isoformat().replace("+00:00", "Z"))


_READERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "virustotal": _virustotal,
    "urlhaus": _urlhaus,
}


def overall_level(verdicts: Any) -> str:
    """The worst level among answered verdicts; ``info`` when none answered (unknown is never safe)."""
    items = verdicts if isinstance(verdicts, list) else [verdicts]
    levels = [v.get("level") for v in items if isinstance(v, Mapping) and v.get("status") == "ok"]
    known = [LEVELS.index(level) for level in levels if level in LEVELS]
    return LEVELS[max(known)] if known else "info"

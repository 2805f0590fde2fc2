"""What every enrichment stand-in says about an indicator unless told otherwise.

The answer depends on the indicator's text only, so a newcomer can predict the demo and a
test can pick a verdict by picking a name:

* containing ``unknown``: unknown everywhere (VirusTotal 404, URLhaus ``no_results``, RDAP 404);
* containing ``evil``, ``bad``, ``malware`` or ``phish``, the EICAR test file's hashes, or an
  IPv4 address in 45.0.0.0/8: malicious;
* containing ``sus``: suspicious;
* anything else: clean.

A domain containing ``new`` was registered 3 days ago; any other on 2009-03-14.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["malicious", "suspicious", "clean", "unknown"]

MALICIOUS_MARKERS = ("evil", "bad", "malware", "phish")
EICAR = frozenset({
    "44d88612fea8a8f36de82e1278abb02f",
    "3395856ce81f2b7382dee72602f798b642f14140",
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
})
MALICIOUS_NETWORK = ipaddress.ip_network("45.0.0.0/8")
OLD_REGISTRATION = dt.datetime(2009, 3, 14, tzinfo=dt.UTC)
NEW_DOMAIN_DAYS = 3


@dataclass(frozen=True)
class Profile:
    """What the stand-ins say about one indicator."""

    verdict: Verdict
    registered: dt.datetime


def profile(indicator: str, now: float | None = None) -> Profile:
    """The canned verdict and registration date for ``indicator`` (see the module docstring)."""
    text = indicator.strip().lower()
    clock = time.time() if now is None else now
    registered = (
        dt.datetime.fromtimestamp(clock, dt.UTC).replace(microsecond=0) - dt.timedelta(days=NEW_DOMAIN_DAYS)
        if "new" in text
        else OLD_REGISTRATION
    )
    if "unknown" in text:
        return Profile("unknown", registered)
    if any(marker in text for marker in MALICIOUS_MARKERS) or text in EICAR or _in_bad_network(text):
        return Profile("malicious", registered)
    return Profile("suspicious" if "sus" in text else "clean", registered)


def _in_bad_network(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in MALICIOUS_NETWORK
    except ValueError:
        return False


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True

"""The webhook's verification, rules and rate_limit options are checked at import, naming the option."""

from __future__ import annotations

from typing import Any

import pytest

from storyline.actions import webhook
from storyline.actions.plugins import VERIFIERS
from storyline.inbound import Signed

GOOD = {"type": "hmac", "header": "X-Signature", "secret": "{% credential hook %}"}


def test_good_options_pass() -> None:
    assert webhook.validate({
        "path": "p", "verification": GOOD,
        "rules": [{"type": "regex", "path": "{{.p.kind}}", "value": "alert"}],
        "rate_limit": {"count": "10", "period": 60, "key": "{{.p.user}}"},
    }) == []
    assert webhook.validate({"verification": {**GOOD, "algorithm": "sha512", "prefix": "v1=",
                                              "encoding": "base64"}}) == []
    assert webhook.validate({"rate_limit": {"count": "{{ .RESOURCE.limit }}", "period": 60}}) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"verification": "hmac"}, "option 'verification' must be an object with a 'type'"),
        ({"verification": {"type": "nope"}}, "option 'verification.type' must be one of hmac"),
        ({"verification": {"type": "hmac", "secret": "s"}}, "option 'verification.header' is required"),
        ({"verification": {"type": "hmac", "header": "X"}}, "option 'verification.secret' is required"),
        ({"verification": {**GOOD, "algorithm": "md5"}}, "option 'verification.algorithm' must be one of"),
        ({"verification": {**GOOD, "encoding": "hexish"}}, "option 'verification.encoding' must be one of"),
        ({"rules": [{"type": "regexp", "path": "x", "value": "y"}]}, "option 'rules[0].type' must be one of"),
        ({"rules": [{"type": "regex", "path": "x", "value": "("}]}, "option 'rules[0].value' is not a valid"),
        ({"rate_limit": 10}, "option 'rate_limit' must be an object"),
        ({"rate_limit": {"count": 0, "period": 60}}, "option 'rate_limit.count' must be a positive whole number"),
        ({"rate_limit": {"count": 1.5, "period": 60}}, "option 'rate_limit.count' must be a positive whole number"),
        ({"rate_limit": {"count": 5}}, "option 'rate_limit.period' must be a positive number of seconds"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    problems = webhook.validate(options)
    assert any(message in problem for problem in problems), problems


def test_the_verification_kinds_are_hmac_teams_and_slack() -> None:
    assert list(VERIFIERS) == ["hmac", "teams", "slack"]


def test_a_verification_kind_checks_its_own_options() -> None:
    class Always:
        def validate(self, spec: Any) -> list[str]:
            return [] if spec.get("token") else ["option 'verification.token' is required"]

        async def verify(self, spec: Any, request: Signed, render: Any) -> None:
            return None

        def event(self, parsed: Any) -> Any:
            return parsed

    kinds = {"always": Always()}
    assert webhook.validate_verification({"type": "always", "token": "t"}, kinds) == []
    assert webhook.validate_verification({"type": "always"}, kinds) == ["option 'verification.token' is required"]
    assert webhook.validate_verification({"type": "hmac"}, kinds) == [
        "option 'verification.type' must be one of always (got 'hmac')"]

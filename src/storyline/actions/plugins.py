"""Every named plug-in of an action option, listed here and nowhere else.

The webhook's ``verification`` kinds and the HTTP Request's ``response_check`` values
are read from these tables when a story is imported (an unknown name is refused
then) and when a request or a response arrives. Nothing registers itself on import:
a new kind is its module plus one line here, and what exists can be read in one
place. The Slack kind checks Slack's HMAC with the standard library rather than
Slack's SDK, so importing an action does not load one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from storyline.actions import response_checks
from storyline.actions.response_checks import ResponseCheck
from storyline.inbound import Verifier
from storyline.verifiers.hmac import Hmac
from storyline.verifiers.slack import SlackVerification
from storyline.verifiers.teams import BotFrameworkJwt

VERIFIERS: Mapping[str, Verifier] = MappingProxyType({
    "hmac": Hmac(),
    "teams": BotFrameworkJwt(),
    "slack": SlackVerification(),
})

RESPONSE_CHECKS: Mapping[str, ResponseCheck] = MappingProxyType({
    "slack": response_checks.slack,
})

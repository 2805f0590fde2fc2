"""Where a webhook files the request: flat (legacy) or under ``body`` beside ``headers``."""

from __future__ import annotations

import pytest

from storyline.actions import webhook

FORM = {"payload": '{"type": "block_actions"}'}
HEADERS = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("options", "schema", "nested"),
    [
        ({}, 1, False),  # 2019 exports: {{.receive_commands.text}}
        ({}, None, False),  # stories written for storyline keep the flat shape
        ({}, 3, True),  # 2020-2022 exports: {{.receive_interactive_from_slack.body.payload}}
        ({}, 23, True),
        ({"include_headers": "false"}, 18, False),
        ({"include_headers": False}, 3, False),
        ({"include_headers": "true"}, 1, True),
        ({"include_headers": None}, 3, True),
    ],
)
def test_include_headers_follows_the_option_else_the_schema_version(
    options: dict, schema: int | None, nested: bool
) -> None:
    fields = webhook.payload(options, FORM, {"source": "slack"}, HEADERS, schema)
    if nested:
        assert fields == {"headers": HEADERS, "body": {"source": "slack", **FORM}}
    else:
        assert fields == {"source": "slack", **FORM}

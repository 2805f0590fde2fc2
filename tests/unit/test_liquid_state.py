"""An action's options share one Liquid state, in document order, as in Huginn and Tines.

A capture in one option (or one payload key) is read by the ones after it; each run starts
with a fresh state.
"""

from __future__ import annotations

from typing import Any

from storyline.actions import event_transformation
from storyline.actions.base import ActionSpec, RunContext
from storyline.config import Settings
from storyline.engine.runtime import Runtime

EVENT = {"incident": {"id": "INC-7", "rows": [{"host": "web-1", "ip": "10.0.0.5"},
                                              {"host": "db-2", "ip": "10.0.0.9"}]}}


def context(options: dict[str, Any], event: dict[str, Any] = EVENT) -> RunContext:
    action = ActionSpec(id=1, story_id=1, guid="g", name="Report", key="report",
                        type=event_transformation.TYPE, options={"mode": "message_only", **options})
    return Runtime(Settings()).context(action, event, "run-1", 0.0)


def test_a_csv_captured_in_one_payload_key_is_used_by_the_next() -> None:
    ctx = context({"payload": {
        "csv": "{% capture csv %}host,ip\n{% for r in .incident.rows %}{{ r.host }},{{ r.ip }}\n"
               "{% endfor %}{% endcapture %}{{ csv | size }} bytes",
        "jira_comment": "Hosts for {{ .incident.id }}:\n{{ csv }}",
        "attachment": "{{ csv | base64_encode }}",
    }})
    [event] = event_transformation.run(ctx).events
    csv = "host,ip\nweb-1,10.0.0.5\ndb-2,10.0.0.9\n"
    assert event["jira_comment"] == f"Hosts for INC-7:\n{csv}"
    assert event["attachment"] != ""
    assert event["csv"] == f"{len(csv)} bytes"


def test_a_placeholders_option_s_captures_are_read_by_the_payload() -> None:
    ctx = context({
        "placeholders": {
            "title": "{% capture title %}[{{ .incident.id }}] {{ .incident.rows | size }} hosts{% endcapture %}",
            "first": "{% assign first_host = .incident.rows.first.host %}",
        },
        "payload": {"summary": "{{ title }}", "lead": "{{ first_host | upcase }}"},
    })
    [event] = event_transformation.run(ctx).events
    assert event == {"summary": "[INC-7] 2 hosts", "lead": "WEB-1"}


def test_each_run_starts_with_a_fresh_state() -> None:
    options = {"payload": {"a": "{% if .incident %}{% assign seen = 'yes' %}{% endif %}", "b": "{{ seen }}"}}
    [first] = event_transformation.run(context(options)).events
    [second] = event_transformation.run(context(options, {"other": 1})).events
    assert (first["b"], second["b"]) == ("yes", "")

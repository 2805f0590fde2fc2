"""Stories written by the tests themselves, in Tines export format."""

from __future__ import annotations

import uuid
from typing import Any

WEBHOOK = "Agents::WebhookAgent"
TRIGGER = "Agents::TriggerAgent"
TRANSFORM = "Agents::EventTransformationAgent"
HTTP = "Agents::HTTPRequestAgent"


def agent(type_: str, name: str, **options: Any) -> dict[str, Any]:
    if type_ == WEBHOOK:
        # These stories are schema 4, where Tines nests a request under "body" unless told not to.
        options.setdefault("include_headers", "false")
    return {"type": type_, "name": name, "disabled": False, "guid": uuid.uuid4().hex, "options": options}


def story(name: str, agents: list[dict[str, Any]], links: list[tuple[int, int]], **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 4,
        "name": name,
        "description": "",
        "guid": uuid.uuid4().hex,
        "agents": agents,
        "links": [{"source": s, "receiver": r} for s, r in links],
        **extra,
    }


def slash_command_story(vt_url: str = "", slack_url: str = "", *, path: str = "analyze") -> dict[str, Any]:
    """The reference workload: slash command -> trigger -> extract -> explode [-> VT -> Slack]."""
    agents = [
        agent(WEBHOOK, "Receive commands", path=path, secret="s3cret", verbs="post",
              response="Hi {{.user_name}}! Thanks for submitting your {{.command}} request, we're analyzing now",
              response_code="200"),
        agent(TRIGGER, "Is analyze domain", rules=[
            {"type": "regex", "path": "{{.receive_commands.command}}", "value": "/analyzedomain"}]),
        agent(TRANSFORM, "Extract domains", mode="extract", matchers=[
            {"path": "{{.receive_commands.text}}",
             "regexp": r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z0-9]",
             "to": "domains"}]),
        agent(TRANSFORM, "Explode domains", mode="explode", path="{{.extract_domains.domains | as_object}}",
              to="domain"),
    ]
    links = [(0, 1), (1, 2), (2, 3)]
    if vt_url:
        agents.append(agent(HTTP, "Search VirusTotal", method="get", url=f"{vt_url}/vtapi/v2/domain/report",
                            payload={"domain": "{{.explode_domains.domain}}", "apikey": "k"}))
        links.append((3, 4))
    if slack_url:
        agents.append(agent(HTTP, "Post to Slack", method="post", url=f"{slack_url}/api/chat.postMessage",
                            content_type="json",
                            payload={"channel": "{{.receive_commands.channel_id}}",
                                     "text": "Analysis of {{.explode_domains.domain}}: "
                                             "{{.search_virustotal.body['Forcepoint ThreatSeeker category']}}"}))
        links.append((len(agents) - 2, len(agents) - 1))
    return story("Slash command", agents, links)


def approval_story() -> dict[str, Any]:
    """Webhook -> a message with two prompt links -> a trigger per answer."""
    return story("Approval", [
        agent(WEBHOOK, "Receive alert", path="alert", secret="s", verbs="post"),
        agent(TRANSFORM, "Ask analyst", mode="message_only",
              payload={"text": "Block {{.receive_alert.ip}}?", "yes": "{% prompt block %}",
                       "no": "{% prompt ignore %}"}),
        agent(TRIGGER, "Blocked", rules=[
            {"type": "regex", "path": "{{.ask_analyst.prompt.status}}", "value": "^block$"}]),
        agent(TRANSFORM, "Report", mode="message_only",
              payload={"ip": "{{.receive_alert.ip}}", "answer": "{{.ask_analyst.prompt.status}}",
                       "run": "{% story_run_guid %}"}),
    ], [(0, 1), (1, 2), (2, 3)])

"""Ruby Liquid behaviours the articles' stories rely on."""

from __future__ import annotations

from storyline.templating import StaticScope, render_value


def test_a_single_quoted_string_keeps_its_backslashes() -> None:
    # use-cases--slack--slack-interactive-bot-example: replace: '\"{', '{' | replace: '}\"', '}'
    payload = '{"value": "-----{\\"id\\": \\"DEMO-1\\"}"}'
    template = "{{ .hook.payload | replace: '\\\"{', '{' | replace: '}\\\"', '}' | json_parse | as_object }}"
    assert render_value(template, {"hook": {"payload": payload}}, StaticScope()) == {"value": '-----{"id": "DEMO-1"}'}


def test_escaped_quotes_outside_single_quotes_are_still_quotes() -> None:
    event = {"items": [{"name": "Received", "v": 1}, {"name": "Other", "v": 2}]}
    template = '{{ .items | where:\\"name\\",\\"Received\\" | map: \\"v\\" | first }}'
    assert render_value(template, event, StaticScope()) == "1"


def test_as_object_reads_json_text_with_raw_line_breaks() -> None:
    # blog--top_3_stories_you_didnt_know_you_needed--chatops: Slack fields built with {% for %}
    event = {"blocks": ["*Alert*: \nSuspicious login", "*Where*: \nRome"]}
    template = ('[{% for i in blocks %}{"type": "mrkdwn", "text": "{{ i }}"}{% if forloop.last == false %},'
                '{% endif %}{% endfor %}]')
    built = render_value({"message": template}, event, StaticScope())["message"]
    fields = render_value("{{ .m | as_object }}", {"m": built}, StaticScope())
    assert fields == [{"type": "mrkdwn", "text": "*Alert*: \nSuspicious login"},
                      {"type": "mrkdwn", "text": "*Where*: \nRome"}]

"""Liquid's grammar as Ruby Liquid (and so Tines) accepts it, where python-liquid's is narrower.

Ruby Liquid's lexer has no reserved words inside a path, skips whitespace between tokens,
and takes identifiers as ``[a-zA-Z_][\\w-]*\\??``; Tines adds ``{{ . }}`` for the whole event.
"""

from __future__ import annotations

from typing import Any

import pytest

from storyline.templating import StaticScope, render_text, render_value
from storyline.templating.preprocess import KEYWORDS

EVENT: dict[str, Any] = {
    "ip": {"geo": {word: f"<{word}>" for word in KEYWORDS} | {"as": {"asn": 13335}}},
    "mail": {"x-spam-flag?": "YES", "spam-score": 7, "ok?": True},
    "items": [1, 2],
}


def render(source: str) -> str:
    return render_text(source, EVENT, StaticScope())


@pytest.mark.parametrize("word", sorted(KEYWORDS - {"as"}))
def test_a_word_python_liquid_reserves_is_an_ordinary_path_segment(word: str) -> None:
    assert render(f"{{{{ .ip.geo.{word} }}}}") == f"<{word}>"
    assert render(f"{{% if ip.geo.{word} == '<{word}>' %}}yes{{% endif %}}") == "yes"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ .ip.geo.as.asn }}", "13335"),
        ("{{ ip['geo'].as.asn }}", "13335"),
        ("{% assign n = .ip.geo.as.asn %}{{ n | plus: 1 }}", "13336"),
        ("{{ items | where: 'x', .ip.geo.as.asn | size }}", "0"),
        ("{% for i in .items limit: 1 %}{{ i }}{% endfor %}", "1"),
        ("{% if .items contains 2 and .ip.geo.as %}both{% endif %}", "both"),
    ],
)
def test_keyword_segments_work_in_outputs_tags_and_filter_arguments(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize("source", ["{{ . }}", "{{.}}", "{{- . -}}"])
def test_a_lone_dot_is_the_whole_incoming_event(source: str) -> None:
    assert render_value({"all": source.replace(".", ". | as_object")}, EVENT, StaticScope()) == {"all": EVENT}
    assert render(source).startswith('{"ip":')


def test_a_lone_dot_reads_the_event_not_the_credentials() -> None:
    scope = StaticScope(credentials={"api": "s3cret"})
    assert render_text("{{ CREDENTIAL.api | size }} {{ . }}", {"a": 1}, scope) == '6 {"a":1}'


@pytest.mark.parametrize(
    "source",
    ["{{ ip.geo\n  .as.asn }}", "{{ .ip.geo .as .asn }}", "{{ ip \n\t.geo. as. asn }}", "{{ ip.geo.\nas.asn }}"],
)
def test_whitespace_or_a_newline_around_a_dot_continues_the_path(source: str) -> None:
    assert render(source) == "13335"


def test_identifiers_may_hold_hyphens_and_end_with_a_question_mark() -> None:
    assert render("{{ .mail.x-spam-flag? }} {{ mail.spam-score | plus: 1 }} {{ mail.ok? }}") == "YES 8 true"

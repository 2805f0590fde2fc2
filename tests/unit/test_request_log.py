"""What serve's request line shows of a path: never a webhook's secret, never unbounded."""

from __future__ import annotations

from storyline.web.requestlog import MAX_PATH, shown_path


def test_a_webhook_path_keeps_its_first_segment_only() -> None:
    assert shown_path("/webhook/demo-alert/demo-secret") == "/webhook/demo-alert/…"
    assert shown_path("/webhook/security-chatbot-slack") == "/webhook/security-chatbot-slack"


def test_other_paths_are_shown_bounded_and_printable() -> None:
    assert shown_path("/healthz") == "/healthz"
    assert shown_path("/x\x1b[31m") == "/x?[31m"
    assert len(shown_path("/" + "a" * 10_000)) == MAX_PATH + 1

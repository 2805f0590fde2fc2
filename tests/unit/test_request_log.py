"""What serve's request line shows of a path: never a webhook's secret, never unbounded."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.types import Message, Receive, Scope, Send

from storyline.web.requestlog import MAX_PATH, UNLOGGED, RequestLog, shown_path


def test_a_webhook_path_keeps_its_first_segment_only() -> None:
    assert shown_path("/webhook/demo-alert/demo-secret") == "/webhook/demo-alert/…"
    assert shown_path("/webhook/security-chatbot-slack") == "/webhook/security-chatbot-slack"


def test_other_paths_are_shown_bounded_and_printable() -> None:
    assert shown_path("/healthz") == "/healthz"
    assert shown_path("/x\x1b[31m") == "/x?[31m"
    assert len(shown_path("/" + "a" * 10_000)) == MAX_PATH + 1


def _lines_for(path: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def sent(message: Message) -> None:
        pass

    async def nothing() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": path, "client": ("127.0.0.1", 5000)}
    with caplog.at_level(logging.INFO, logger="storyline.access"):
        asyncio.run(RequestLog(answer)(scope, nothing, sent))
    return [record.getMessage() for record in caplog.records if record.name == "storyline.access"]


def test_a_request_gets_one_line_with_client_method_path_and_status(caplog: pytest.LogCaptureFixture) -> None:
    [line] = _lines_for("/healthz", caplog)
    assert line.startswith("127.0.0.1 GET /healthz 204 ")


@pytest.mark.parametrize("path", sorted(UNLOGGED))
def test_the_consoles_and_the_playgrounds_polls_get_no_line(path: str, caplog: pytest.LogCaptureFixture) -> None:
    assert _lines_for(path, caplog) == []

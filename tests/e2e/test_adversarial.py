"""A real `storyline serve` against what issue 12's pass did not try: request framings, a regex elsewhere.

The framing tests use the server of ``test_http_limits`` (an 8 KiB head, a 1.5 s body
timeout), so each refusal is over in about a second.
"""

from __future__ import annotations

import concurrent.futures
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import WEBHOOK, agent, story
from tests.e2e.processes import environment, free_port, serve
from tests.e2e.test_http_limits import BODY_TIMEOUT, MAX_HEADER_BYTES, answer, base, connect
from tests.e2e.test_regex_time_limit import FAST, HOSTILE, LIMIT, RUNAWAY
from tests.harness import load_stories
from tests.support import BUSY

pytestmark = pytest.mark.slow

__all__ = ["base"]  # the module's server fixture, shared

CHUNKED = (b"POST /webhook/hook/s HTTP/1.1\r\nHost: storyline\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n")


@pytest.mark.parametrize("opening", [
    b"2\r\n{}\r\n0\r\nX-Trailer: ",  # a trailer field after the last chunk
    b"2;ext=",  # a chunk extension
], ids=["trailer", "chunk-extension"])
def test_what_a_chunked_body_carries_besides_its_data_is_held_to_the_header_limit(base: str, opening: bytes) -> None:
    # The parser buffers a trailer field or a chunk extension whole, as it does a header.
    with connect(base) as sock:
        started = time.monotonic()
        sock.sendall(CHUNKED + opening)
        sock.sendall(b"t" * (4 * 1024 * 1024))  # 4 MiB, never finished
        reply = answer(sock)
        took = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"STORYLINE_MAX_HEADER_BYTES" in reply
    assert took < BODY_TIMEOUT + BUSY


def test_a_body_of_many_small_chunks_is_still_accepted(base: str) -> None:
    data = b'{"text": "' + b"x" * 20_000 + b'"}'
    chunks = b"".join(b"1\r\n" + data[i:i + 1] + b"\r\n" for i in range(len(data)))  # 6x its size in framing
    assert len(chunks) - len(data) > 10 * MAX_HEADER_BYTES
    with connect(base) as sock:
        sock.sendall(CHUNKED.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n") + chunks + b"0\r\n\r\n")
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 201 "), reply[:200]


# -- a story's regex in a webhook's response ------------------------------------------------------------


@pytest.fixture
def answering(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A webhook whose ``response`` runs a catastrophic pattern over what the sender sent."""
    load_stories(database_url, story("Answers", [
        agent(WEBHOOK, "Answers", path="answers", secret="s", verbs="post",
              response=f"{{{{ .answers.text | regex_replace: '{RUNAWAY}', 'x' }}}}"),
    ], []))
    port = free_port()
    process = serve(port, environment(database_url, STORYLINE_REGEX_TIMEOUT=str(LIMIT)), tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def test_healthz_stays_fast_while_a_webhook_response_runs_a_runaway_regex(answering: str) -> None:
    stop = threading.Event()

    def attack() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                client.post(f"{answering}/webhook/answers/s", json=HOSTILE)

    timings: list[float] = []
    with concurrent.futures.ThreadPoolExecutor(4) as pool, httpx.Client(timeout=30) as client:
        attackers = [pool.submit(attack) for _ in range(4)]
        until = time.monotonic() + 3 * LIMIT
        while time.monotonic() < until:
            started = time.monotonic()
            assert client.get(f"{answering}/healthz").status_code == 200
            timings.append(time.monotonic() - started)
            time.sleep(0.05)  # a sample every 50 ms
        stop.set()
        for future in attackers:
            future.result()
    assert statistics.median(timings) < FAST, (statistics.median(timings), max(timings))


@pytest.mark.parametrize("request_bytes", [
    b"POST /webhook/hook/s HTTP/1.1\r\nHost: storyline\r\nX-A: a\r\n folded\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /webhook/hook/s HTTP/1.1\r\nHost: storyline\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
    b"POST /webhook/hook/s HTTP/1.1\r\nHost: storyline\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
], ids=["obs-fold", "two-content-lengths", "length-and-chunked"])
def test_a_malformed_request_is_refused_400_with_the_headers_every_answer_carries(
    base: str, request_bytes: bytes
) -> None:
    with connect(base) as sock:
        sock.sendall(request_bytes)
        reply = answer(sock)
    head = reply.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 400 "), reply[:200]
    assert b"x-content-type-options: nosniff" in head and b"content-security-policy:" in head

"""A real `storyline serve` against clients that send too much, too slowly, or too many at once.

The server runs with small limits (an 8 KiB head, a 1 s header timeout, 16 connections)
so that each case is over in about a second; the defaults are in README's configuration.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import WEBHOOK, agent, story
from tests.e2e.processes import cli, environment, free_port, serve
from tests.support import BUSY, eventually

pytestmark = pytest.mark.slow

MAX_HEADER_BYTES = 8192
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS = 16
TRICKLE = HEADER_TIMEOUT + BODY_TIMEOUT + BUSY + 2  # longer than any timeout asserted here may take


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("limits")
    env = environment(f"sqlite:///{tmp}/limits.db", STORYLINE_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
                      STORYLINE_HEADER_TIMEOUT=str(HEADER_TIMEOUT), STORYLINE_BODY_TIMEOUT=str(BODY_TIMEOUT),
                      STORYLINE_MAX_CONNECTIONS=str(MAX_CONNECTIONS))
    hook = tmp / "hook.json"
    hook.write_text(json.dumps(story("Hook", [agent(WEBHOOK, "Hook", path="hook", secret="s", verbs="post")], [])))
    cli("story", "import", str(hook), env=env)
    port = free_port()
    server = serve(port, env, tmp / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_header_over_the_limit_is_answered_431_without_being_read_whole(base: str) -> None:
    with connect(base) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /webhook/x/y HTTP/1.1\r\nHost: storyline\r\nX-Padding: ")
        sock.sendall(b"a" * (4 * 1024 * 1024))  # 4 MiB of one header, never finished
        reply = answer(sock)
        took = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"STORYLINE_MAX_HEADER_BYTES" in reply
    assert took < HEADER_TIMEOUT + BUSY  # answered while the client was still sending


def test_a_whole_head_over_the_limit_is_refused_431_too(base: str) -> None:
    response = httpx.get(f"{base}/healthz", headers={"x-padding": "a" * (MAX_HEADER_BYTES + 1)})
    assert response.status_code == 431


def test_heads_within_the_limit_and_bodies_beyond_it_are_served_on_one_connection(base: str) -> None:
    with httpx.Client(base_url=base) as client:
        for _ in range(3):
            assert client.get("/healthz", headers={"x-padding": "a" * (MAX_HEADER_BYTES // 2)}).status_code == 200
            assert client.post("/webhook/hook/s", content=b"b" * (4 * MAX_HEADER_BYTES)).status_code == 201


def test_a_client_trickling_its_header_is_cut_off_after_the_header_timeout(base: str) -> None:
    with connect(base) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: storyline\r\nX-Slow: ")
        while time.monotonic() - started < TRICKLE:
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                break
            sock.sendall(b"a")  # a byte every 100 ms: never idle, never done
        reply = answer(sock)
        took = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"STORYLINE_HEADER_TIMEOUT" in reply
    assert HEADER_TIMEOUT - 0.1 <= took < HEADER_TIMEOUT + BUSY  # the server timed it from accepting


def test_a_client_trickling_its_body_is_cut_off_after_the_body_timeout(base: str) -> None:
    with connect(base) as sock:
        sock.sendall(b"POST /webhook/hook/s HTTP/1.1\r\nHost: storyline\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        while time.monotonic() - started < TRICKLE:
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                break
            sock.sendall(b"b")
        reply = answer(sock)
        took = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"STORYLINE_BODY_TIMEOUT" in reply
    assert BODY_TIMEOUT - 0.1 <= took < BODY_TIMEOUT + BUSY


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(base: str) -> None:
    with connect(base) as sock:
        started = time.monotonic()
        assert answer(sock) == b""
        took = time.monotonic() - started
    assert HEADER_TIMEOUT - 0.1 <= took < HEADER_TIMEOUT + BUSY  # the server timed it from accepting


def test_connections_past_the_limit_are_answered_503_at_once_and_the_server_recovers(base: str) -> None:
    hogs = [connect(base) for _ in range(MAX_CONNECTIONS)]
    try:
        for hog in hogs:
            hog.sendall(b"GET /healthz HTTP/1.1\r\n")  # heads begun, never finished
        with connect(base) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: storyline\r\n\r\n")
            reply = answer(sock)
            took = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 503 "), reply[:200]  # not queued for a slot: that would be a 200
        assert took < HEADER_TIMEOUT + BUSY
        assert b"STORYLINE_MAX_CONNECTIONS" in reply
    finally:
        for hog in hogs:
            hog.close()
    eventually(lambda: httpx.get(f"{base}/healthz").status_code == 200, 10, "the server taking connections again")


def test_answers_do_not_name_the_server_software(base: str) -> None:
    response = httpx.get(f"{base}/")
    assert response.status_code == 200
    assert "server" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_serving_beyond_loopback_warns_what_is_reachable(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path}/exposed.db")
    # 192.0.2.1 (TEST-NET) is not on this machine: serve warns, then cannot listen there and stops.
    result = cli("serve", "--host", "192.0.2.1", "--port", str(free_port()), env=env, check=False)
    assert result.returncode != 0
    warning = next(line for line in result.stderr.splitlines() if "reachable beyond this machine" in line)
    for reachable in ("webhooks", "prompt links", "/healthz", "Not reachable"):
        assert reachable in warning
    with socket.socket() as taken:  # a port in use: serve stops right after what it would warn
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        local = cli("serve", "--host", "127.0.0.1", "--port", str(taken.getsockname()[1]), env=env, check=False)
    assert local.returncode != 0
    assert "reachable beyond this machine" not in local.stderr

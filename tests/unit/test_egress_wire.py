"""The egress transport speaks HTTP/1.1 as servers really answer it: every framing, reuse only when safe.

The server here is a real TCP server on 127.0.0.1 that answers with bytes written by hand, so each
test can send what a framework would never send on its own (a body ended by closing, an interim 100,
a HEAD's length without a body).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from storyline.egress.wire import Wire

Answer = Callable[[bytes], bytes | None]


class RawServer:
    """Answers each request on a connection with ``answer(request_bytes)``; None closes the connection."""

    def __init__(self, answer: Answer, *, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        body = await reader.readexactly(int(line.split(b":", 1)[1]))
                    if line.lower() == b"transfer-encoding: chunked":
                        while (size := int((await reader.readline()).strip(), 16)) > 0:
                            body += await reader.readexactly(size)
                            await reader.readline()
                        await reader.readline()
                self.requests.append(head + body)
                answer = self.answer(head + body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def fixed(body: bytes, extra: bytes = b"") -> Answer:
    return lambda _: b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%b\r\n%b" % (len(body), extra, body)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=Wire(ssl_context=httpx.create_ssl_context())) as c:
        yield c


async def test_a_connection_is_kept_alive_and_reused(client: httpx.AsyncClient) -> None:
    async with RawServer(fixed(b"ok")) as server:
        for _ in range(3):
            assert (await client.get(server.url)).text == "ok"
        assert server.connections == 1


async def test_a_body_without_a_length_ends_with_the_connection_which_is_not_reused(
    client: httpx.AsyncClient,
) -> None:
    async with RawServer(lambda _: b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close_after=True) as server:
        assert (await client.get(server.url)).text == "until the end"
        assert (await client.get(server.url)).text == "until the end"
        assert server.connections == 2


async def test_chunked_answers_are_read_whole(client: httpx.AsyncClient) -> None:
    answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    async with RawServer(lambda _: answer) as server:
        assert (await client.get(server.url)).text == "hello world"
        assert (await client.get(server.url)).text == "hello world"
        assert server.connections == 1


async def test_a_head_answer_has_no_body_whatever_length_it_declares(client: httpx.AsyncClient) -> None:
    async with RawServer(lambda _: b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n") as server:
        response = await client.head(server.url)
        assert response.status_code == 200 and response.content == b""
        assert response.headers["content-length"] == "1000"


async def test_an_interim_answer_is_skipped_for_the_real_one(client: httpx.AsyncClient) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone"
    async with RawServer(lambda _: answer) as server:
        response = await client.post(server.url, content=b"x")
        assert (response.status_code, response.text) == (201, "done")


async def test_a_streamed_upload_is_sent_chunked(client: httpx.AsyncClient) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            yield part

    async with RawServer(fixed(b"ok")) as server:
        assert (await client.post(server.url, content=parts())).text == "ok"
        assert server.requests[0].endswith(b"\r\n\r\none two three")
        assert b"transfer-encoding: chunked" in server.requests[0].lower()


async def test_a_connection_closed_mid_answer_is_an_error_and_not_reused(client: httpx.AsyncClient) -> None:
    answers = iter([b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"])

    def answer(_: bytes) -> bytes | None:
        return next(answers, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    async with RawServer(answer, close_after=True) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)
        assert (await client.get(server.url)).text == "ok"


async def test_an_answer_that_is_not_http_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    async with RawServer(lambda _: b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)


async def test_a_silent_server_times_out_and_frees_the_connection(client: httpx.AsyncClient) -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url, timeout=0.2)
        transport: Any = client._transport  # white-box: the slot came back
        assert transport.in_flight == 0
    finally:
        server.close()


@pytest.mark.parametrize("header", [("x-bad", "a\r\nInjected: 1"), ("x-bad", "nul\x00"), ("bad name", "v")])
async def test_headers_http_cannot_carry_are_refused_before_sending(
    client: httpx.AsyncClient, header: tuple[str, str]
) -> None:
    async with RawServer(fixed(b"ok")) as server:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(server.url, headers=[header])
        assert server.requests == []


async def test_only_http_and_https_are_spoken(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await client.get("ftp://127.0.0.1/file")


def _self_signed(host: str) -> tuple[bytes, bytes]:
    """A certificate for ``host`` and its key, PEM: a TLS server of the test's own."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


async def test_https_checks_the_certificate_against_the_host_name(tmp_path: Path) -> None:
    cert, key = _self_signed("localhost")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = RawServer(fixed(b"secure"))
    server._server = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=server_context)
    port = server._server.sockets[0].getsockname()[1]
    seen: list[str] = []

    async def to_loopback(host: str, port: int) -> list[str]:  # as the guard hands over a checked address
        seen.append(host)
        return ["127.0.0.1"]

    trusting = ssl.create_default_context(cadata=cert.decode())
    try:
        async with httpx.AsyncClient(transport=Wire(ssl_context=trusting, connect=to_loopback)) as client:
            assert (await client.get(f"https://localhost:{port}/")).text == "secure"
            assert seen == ["localhost"]  # connected to the address, verified as the name
        async with httpx.AsyncClient(transport=Wire(ssl_context=ssl.create_default_context(),
                                                    connect=to_loopback)) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://localhost:{port}/")
        async with httpx.AsyncClient(transport=Wire(ssl_context=trusting, connect=to_loopback)) as client:
            with pytest.raises(httpx.ConnectError, match=r"match|mismatch"):
                await client.get(f"https://elsewhere.test:{port}/")  # the right certificate for another name
    finally:
        await server.__aexit__()

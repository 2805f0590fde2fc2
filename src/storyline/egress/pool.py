"""Connection pooling for the egress client: many small httpx pools instead of one big one.

The worker sends thousands of requests per second through one ``Egress`` in the benchmark,
and one httpcore pool's cost grows with the square of its concurrency (see ``ShardedTransport``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several small connection pools behind one transport, filled one after another.

    httpcore's pool re-examines every connection and every queued request each time
    one is assigned, so its cost grows with the square of concurrency: with 32
    requests in flight each request cost ~2.5x its sequential CPU time. Here a request
    goes to the first pool with fewer than ``spill`` requests in flight (the least
    busy one when all are full), so each pool's scan stays short while sequential
    traffic keeps using pool 0 and a single keep-alive connection per host.
    """

    def __init__(self, transports: list[httpx.AsyncHTTPTransport], spill: int) -> None:
        self._transports = transports
        self._in_flight = [0] * len(transports)
        self._spill = spill

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        in_flight = self._in_flight
        spill = self._spill
        index = 0
        for count in in_flight:
            if count < spill:
                break
            index += 1
        else:
            index = in_flight.index(min(in_flight))
        in_flight[index] += 1
        try:
            response = await self._transports[index].handle_async_request(request)
        except BaseException:
            in_flight[index] -= 1
            raise
        response.stream = CountedStream(response.stream, in_flight, index)  # type: ignore[arg-type]
        return response

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()


class CountedStream(httpx.AsyncByteStream):
    """A response body that frees its pool's in-flight slot when closed."""

    __slots__ = ("_in_flight", "_index", "_open", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, in_flight: list[int], index: int) -> None:
        self._stream = stream
        self._in_flight = in_flight
        self._index = index
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._in_flight[self._index] -= 1
        await self._stream.aclose()

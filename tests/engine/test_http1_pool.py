"""The lean HTTP/1.1 transport under `EngineClient`, against real servers: keep-alive reuse, servers that
close idle connections, framing by length, chunks and close, early closes, timeouts, the pool's bound.

A scripted raw-asyncio server answers each request with the bytes a test gives, and counts connections;
the fake engine counts aborted streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast

import pytest
import uvloop

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine
from cocoon.errors import EngineError, EngineTimeoutError
from waiting import wait_until

CHAT = "/v1/chat/completions"
BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "alpha beta"}], "stream": True}
WHOLE = b'{"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}'
SSE = b"data: {}\n\ndata: [DONE]\n\n"


def length_answer(body: bytes = WHOLE, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (extra, len(body), body)


def chunked_answer(*pieces: bytes) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


Script = Callable[["Served"], "bytes | None"]
"""What the server does with a request: the bytes to answer (None: close the connection instead)."""


class Served:
    """One request as the server saw it."""

    def __init__(self, index: int, connection: int, on_connection: int, head: bytes, body: bytes) -> None:
        self.index = index  # the n-th request overall
        self.connection = connection  # which connection carried it
        self.on_connection = on_connection  # the n-th request on that connection
        self.head = head
        self.body = body


class ScriptedServer:
    """A raw HTTP/1.1 server answering each request with ``script(request)``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[Served] = []
        self.transports: list[asyncio.Transport] = []

    def protocol(self) -> asyncio.Protocol:
        server = self
        server.connections += 1
        number = server.connections

        class _Protocol(asyncio.Protocol):
            def __init__(self) -> None:
                self.buf = b""
                self.count = 0

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
                server.transports.append(transport)

            def data_received(self, data: bytes) -> None:
                self.buf += data
                while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                    head = self.buf[:end]
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                    if len(self.buf) < end + 4 + length:
                        return
                    body, self.buf = self.buf[end + 4 : end + 4 + length], self.buf[end + 4 + length :]
                    self.count += 1
                    served = Served(len(server.requests), number, self.count, head, body)
                    server.requests.append(served)
                    answer = server.script(served)
                    if answer is None:
                        self.transport.close()
                        return
                    self.transport.write(answer)

        return _Protocol()


@asynccontextmanager
async def scripted(script: Script, **options: float) -> AsyncIterator[tuple[ScriptedServer, EngineClient]]:
    server = ScriptedServer(script)
    listener = await asyncio.get_running_loop().create_server(server.protocol, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with EngineClient(f"http://127.0.0.1:{port}/v1", **options) as client:  # type: ignore[arg-type]
            yield server, client
    finally:
        for transport in server.transports:
            transport.abort()
        listener.close()
        await listener.wait_closed()


async def test_sequential_requests_share_one_connection() -> None:
    async with scripted(lambda r: length_answer() if r.index % 2 else chunked_answer(SSE)) as (
        server,
        client,
    ):
        for _ in range(3):
            async with await client.stream(CHAT, BODY) as answer:
                assert b"".join([data async for data in answer]) == SSE
            assert (await client.complete(CHAT, {"model": "m"})).usage is not None
    assert server.connections == 1 and len(server.requests) == 6
    head = server.requests[0].head
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Accept: text/event-stream" in head and b"Content-Type: application/json" in head


async def test_a_server_that_closed_an_idle_connection_costs_nothing() -> None:
    def close_after_answering(request: Served) -> bytes:
        asyncio.get_running_loop().call_soon(lambda: server.transports[request.connection - 1].close())
        return length_answer()

    async with scripted(close_after_answering) as (server, client):
        for _ in range(3):
            await client.complete(CHAT, {"model": "m"})
            await asyncio.sleep(0.05)  # the server closes the idle connection meanwhile
    assert server.connections == 3


async def test_a_request_the_server_dropped_unanswered_on_a_reused_connection_is_sent_again() -> None:
    # the race of a server closing an idle connection as the next request goes out on it
    def drop_the_second(request: Served) -> bytes | None:
        return None if request.on_connection == 2 else length_answer()

    async with scripted(drop_the_second) as (server, client):
        for _ in range(3):
            await client.complete(CHAT, {"model": "m"})
    assert [(r.connection, r.on_connection) for r in server.requests] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
        (3, 1),
    ]


async def test_no_second_try_on_a_fresh_connection_or_after_an_answer_began() -> None:
    async with scripted(lambda r: None) as (server, client):
        with pytest.raises(EngineError, match="cannot reach the engine"):
            await client.complete(CHAT, {"model": "m"})
    assert len(server.requests) == 1

    def half_answer(request: Served) -> bytes:
        if request.on_connection == 2:
            asyncio.get_running_loop().call_soon(server.transports[-1].close)
            return b"HTTP/1.1 200 OK\r\n"
        return length_answer()

    async with scripted(half_answer) as (server, client):
        await client.complete(CHAT, {"model": "m"})
        with pytest.raises(EngineError, match="cannot reach the engine"):
            await client.complete(CHAT, {"model": "m"})
    assert len(server.requests) == 2


async def test_an_answer_until_close_and_connection_close_are_not_reused() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + WHOLE,  # ends when the server closes
        length_answer(extra=b"Connection: close\r\n"),
        b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(WHOLE), WHOLE),
        b"HTTP/1.1 100 Continue\r\n\r\n" + length_answer(),
    ]

    def answer(request: Served) -> bytes:
        if request.index == 0:
            asyncio.get_running_loop().call_soon(server.transports[-1].close)
        return answers[request.index]

    async with scripted(answer) as (server, client):
        for _ in answers:
            assert (await client.complete(CHAT, {"model": "m"})).data["usage"]["completion_tokens"] == 1
    assert server.connections == 4


async def test_malformed_answer_is_an_engine_error_and_the_connection_is_dropped() -> None:
    def answer(request: Served) -> bytes:
        if request.index == 0:
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n"
        return chunked_answer(SSE)

    async with scripted(answer) as (server, client):
        with pytest.raises(
            EngineError, match=r"http://127\.0\.0\.1:\d+/v1/chat/completions sent a malformed"
        ):
            stream = await client.stream(CHAT, BODY)  # the head and the bad chunk came in one read
            async for _ in stream:
                pass
        async with await client.stream(CHAT, BODY) as answer_:
            assert b"".join([data async for data in answer_]) == SSE
    assert server.connections == 2


async def test_error_status_reads_the_error_body() -> None:
    error = b'{"error": {"message": "nope", "type": "invalid_request_error", "code": "x"}}'

    def answer(request: Served) -> bytes:
        if request.index == 0:
            return b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(error), error)
        return length_answer()

    async with scripted(answer) as (server, client):
        with pytest.raises(EngineError, match="HTTP 400: nope"):
            await client.stream(CHAT, BODY)
        await client.complete(CHAT, {"model": "m"})
    assert server.connections == 1  # the error body was read to its end: the connection lives on


async def test_idle_and_total_timeouts() -> None:
    head_only = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with scripted(lambda r: None if r.index else head_only, idle_timeout=0.2) as (_, client):
        stream = await client.stream(CHAT, BODY)
        with pytest.raises(EngineTimeoutError, match="stopped sending mid-stream"):
            async for _ in stream:
                pass
    async with scripted(lambda r: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{", idle_timeout=0.2) as (
        _,
        client,
    ):
        with pytest.raises(EngineTimeoutError, match="stopped answering before the body ended"):
            await client.complete(CHAT, {"model": "m"})
    async with scripted(lambda r: b"" if r.index else length_answer(), idle_timeout=0.2) as (server, client):
        await client.complete(CHAT, {"model": "m"})
        with pytest.raises(EngineTimeoutError, match="did not answer in time"):
            await client.complete(CHAT, {"model": "m"})  # on the reused connection: never sent again
    assert len(server.requests) == 2


async def test_the_deadline_bounds_a_stream_that_keeps_sending(fake: RunningFakeEngine) -> None:
    fake.state.config = fake.state.config.replace({"chunks": 100, "delay_ms": 10.0})
    async with EngineClient(fake.base_url, idle_timeout=0.5) as client:
        stream = await client.stream(CHAT, BODY, timeout_s=0.3)
        relayed = 0
        with pytest.raises(EngineTimeoutError):
            async for _ in stream:
                relayed += 1
        assert relayed > 3  # the idle timeout never fired: each piece came within it
    await wait_until(lambda: fake.state.aborted == 1)


async def test_early_close_closes_the_connection_and_a_finished_stream_keeps_it(
    fake: RunningFakeEngine,
) -> None:
    async with EngineClient(fake.base_url) as client:
        pool = client._lean
        assert pool is not None
        for _ in range(2):
            async with await client.stream(CHAT, BODY) as answer:
                async for _ in answer:
                    pass
            assert answer.done
        assert (pool.opened, pool.open_connections) == (1, 1)
        fake.state.config = fake.state.config.replace({"chunks": 1000, "delay_ms": 5.0})
        async with await client.stream(CHAT, BODY) as answer:
            async for _ in answer:
                break
        assert pool.open_connections == 0  # closed at once, never back in the pool
        await wait_until(lambda: fake.state.aborted == 1)


async def test_max_connections_bounds_the_pool() -> None:
    async def later(request: Served) -> None:
        await asyncio.sleep(0.05)
        server.transports[request.connection - 1].write(length_answer())

    tasks = set()

    def answer(request: Served) -> bytes:
        task = asyncio.get_running_loop().create_task(later(request))
        tasks.add(task)
        return b""

    async with scripted(answer, max_connections=2) as (server, client):
        answers = await asyncio.gather(*(client.complete(CHAT, {"model": "m"}) for _ in range(6)))
    assert len(answers) == 6 and server.connections == 2


async def test_unsolicited_bytes_on_an_idle_connection_drop_it() -> None:
    def answer(request: Served) -> bytes:
        if request.index == 0:  # then a 408 out of the blue, as a server timing the connection out
            return length_answer() + b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"
        return length_answer()

    async with scripted(answer) as (server, client):
        await client.complete(CHAT, {"model": "m"})
        await asyncio.sleep(0.05)
        await client.complete(CHAT, {"model": "m"})
    assert server.connections == 2


async def test_an_https_engine_still_goes_through_aiohttp() -> None:
    async with EngineClient("https://127.0.0.1:1/v1") as client:
        assert client._lean is None
    async with EngineClient("http://user:pw@127.0.0.1:1/v1") as client:
        assert client._lean is None


def test_the_pool_works_on_uvloop() -> None:
    """Nodes run on uvloop, whose transports are not `asyncio.Transport` subclasses: the keep-alive
    exchange above, on uvloop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_sequential_requests_share_one_connection())


def test_a_header_value_with_a_line_break_is_refused() -> None:
    """An API key holding CR LF would end its field and add one of its own: refused at once."""
    with pytest.raises(EngineError, match="line break"):
        EngineClient("http://127.0.0.1:9/v1", api_key="key\r\nX-Injected: 1")

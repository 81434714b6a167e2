"""The client API's fast lane on a real socket: what it serves itself, what it hands to aiohttp, and how
it ends connections (caller gone, idle, shutdown). The answers themselves are checked both ways by the
API tests (`test_http_api`, `test_http_bodies`, `test_access_http` run on aiohttp and on the lane)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import openai
import pytest
import uvloop
from aiohttp.test_utils import TestClient
from client_answers import CONTENT, END, chat_body, chunk, head
from lane_server import lane_in, served

from cocoon.client import fast_lane
from cocoon.client.access import AccessControl
from cocoon.client.cors import OriginPolicy
from cocoon.client.fake_backend import FAKE_REPLY, FakeBackend, Gate
from cocoon.client.http_api import make_client_app
from cocoon.client.responses import WholeAnswer
from cocoon.wire.sse import DONE_EVENT


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[TestClient]:
    access = AccessControl(OriginPolicy.from_config(["https://app.example"]))
    async with served(make_client_app(backend, access=access), lane=True) as test_client:
        yield test_client


def raw_post(body: dict[str, object], *, path: str = "/v1/chat/completions", extra: bytes = b"") -> bytes:
    data = json.dumps(body).encode()
    return (
        b"POST %b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%bContent-Length: %d\r\n\r\n%b"
        % (path.encode(), extra, len(data), data)
    )


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response's head and body (Content-Length or chunked, decoded)."""
    head_bytes = await reader.readuntil(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head_bytes.split(b"\r\n")[1:] if b": " in line)
    if b"Content-Length" in fields:
        return head_bytes, await reader.readexactly(int(fields[b"Content-Length"]))
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readexactly(2)
    return head_bytes, body


def content_of(body: bytes) -> str:
    """The text of a whole chat answer (the fake's reply ends in a blank)."""
    return str(json.loads(body)["choices"][0]["message"]["content"]).strip()


@contextlib.asynccontextmanager
async def connect(client: TestClient) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the client's API, closed at the end."""
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_the_openai_sdk_is_served_by_the_lane_streamed_and_whole(client: TestClient) -> None:
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="unused", max_retries=0)
    async with sdk:
        whole = await sdk.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}]
        )
        stream = await sdk.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert (whole.choices[0].message.content or "").strip() == FAKE_REPLY and text.strip() == FAKE_REPLY
    lane = lane_in(client)
    assert lane.served == 2 and lane.handed_over == 0


async def test_requests_on_one_connection_and_pipelined_ones_are_answered_in_order(
    client: TestClient,
) -> None:
    async with connect(client) as (reader, writer):
        first, second = chat_body(stream=False), chat_body(stream=True)
        writer.write(raw_post(first))
        head1, body1 = await read_response(reader)
        writer.write(raw_post(second) + raw_post(first))  # two in one write
        head2, body2 = await read_response(reader)
        _, body3 = await read_response(reader)
        assert head1.startswith(b"HTTP/1.1 200 OK\r\n") and b"Date: " in head1
        assert content_of(body1) == FAKE_REPLY
        assert b"Transfer-Encoding: chunked" in head2 and body2.endswith(DONE_EVENT)
        assert json.loads(body3)["object"] == "chat.completion"
        lane = lane_in(client)
        assert lane.served == 3 and lane.handed_over == 0


async def test_other_routes_and_browser_requests_are_aiohttps_for_the_rest_of_the_connection(
    client: TestClient,
) -> None:
    async with connect(client) as (reader, writer):
        writer.write(raw_post(chat_body(stream=False)))
        await read_response(reader)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        health_head, health = await read_response(reader)
        writer.write(raw_post(chat_body(stream=False)))  # after the handover: aiohttp answers it
        post_head, post = await read_response(reader)
        assert health_head.startswith(b"HTTP/1.1 200") and json.loads(health) == {"ok": True}
        assert post_head.startswith(b"HTTP/1.1 200") and b"Server: " in post_head  # aiohttp's own head
        assert content_of(post) == FAKE_REPLY
        lane = lane_in(client)
        assert lane.served == 1 and lane.handed_over == 1
        # A browser's request (with Origin) goes through aiohttp's CORS handling.
        allowed = await client.post(
            "/v1/chat/completions", json=chat_body(stream=False), headers={"Origin": "https://app.example"}
        )
        refused = await client.post(
            "/v1/chat/completions", json=chat_body(stream=False), headers={"Origin": "https://evil.example"}
        )
        assert (
            allowed.status == 200 and allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
        )
        assert refused.status == 403 and lane.served == 1


async def test_a_malformed_request_gets_aiohttps_400(client: TestClient) -> None:
    async with connect(client) as (reader, writer):
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
        )
        status_line = await reader.readline()
        assert status_line.split(b" ")[1] == b"400"  # aiohttp says why: a duplicate length
        assert lane_in(client).handed_over == 1


async def test_a_request_body_in_pieces_is_waited_for(client: TestClient) -> None:
    async with connect(client) as (reader, writer):
        data = raw_post(chat_body(stream=False))
        for piece in (data[:10], data[10:-5], data[-5:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        _, body = await read_response(reader)
        assert content_of(body) == FAKE_REPLY


async def test_a_request_sent_a_byte_at_a_time_is_answered(client: TestClient) -> None:
    async with connect(client) as (reader, writer):
        for byte in raw_post(chat_body(stream=False)):
            writer.write(bytes((byte,)))
            await writer.drain()
        _, body = await read_response(reader)
        assert content_of(body) == FAKE_REPLY
        assert lane_in(client).served == 1


async def test_connection_close_is_honoured(client: TestClient) -> None:
    async with connect(client) as (reader, writer):
        writer.write(raw_post(chat_body(stream=False), extra=b"Connection: close\r\n"))
        head_bytes, _ = await read_response(reader)
        assert b"Connection: close" in head_bytes
        assert await reader.read() == b""  # the lane closed it


async def test_the_caller_leaving_mid_stream_cancels_the_request(
    client: TestClient, backend: FakeBackend
) -> None:
    gate = Gate()
    backend.add([head(), chunk(CONTENT), gate, chunk(CONTENT), END])
    async with connect(client) as (reader, writer):
        writer.write(raw_post(chat_body()))
        await reader.readuntil(b"\r\n\r\n")
        await gate.reached.wait()
    await asyncio.wait_for(backend.cancelled.wait(), 5)
    assert backend.cancels and "disconnected" in backend.cancels[0]


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write the lane makes to a caller's socket."""
    seen: list[bytes] = []
    write = fast_lane._LaneConnection._write

    def recording(self: fast_lane._LaneConnection, data: bytes) -> None:
        seen.append(data)
        write(self, data)

    monkeypatch.setattr(fast_lane._LaneConnection, "_write", recording)
    return seen


async def test_a_stream_that_comes_at_once_is_one_write(
    client: TestClient, backend: FakeBackend, writes: list[bytes]
) -> None:
    backend.add([head(), chunk(CONTENT), chunk(CONTENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert await resp.read() == CONTENT + CONTENT + DONE_EVENT
    (only,) = writes
    assert only.startswith(b"HTTP/1.1 200 OK") and only.endswith(DONE_EVENT + b"\r\n0\r\n\r\n")


async def test_events_go_out_as_they_come_the_last_with_the_end_of_the_body(
    client: TestClient, backend: FakeBackend, writes: list[bytes]
) -> None:
    gate = Gate()
    backend.add([head(), chunk(CONTENT), gate, chunk(CONTENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    await gate.reached.wait()
    first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)  # not held for the rest
    assert first == CONTENT and len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b"\r\n" + CONTENT + b"\r\n")
    gate.opened.set()
    assert await resp.read() == CONTENT + DONE_EVENT
    assert len(writes) == 2 and writes[1] == b"%x\r\n%b\r\n" % (len(CONTENT), CONTENT) + (
        b"%x\r\n%b\r\n0\r\n\r\n" % (len(DONE_EVENT), DONE_EVENT)
    )


async def test_a_head_that_waits_for_its_first_event_goes_out_alone(
    client: TestClient, backend: FakeBackend
) -> None:
    gate = Gate()
    backend.add([head(), gate, chunk(CONTENT), END])
    async with connect(client) as (reader, writer):
        writer.write(raw_post(chat_body()))
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # before any event
        gate.opened.set()
        assert head_bytes.startswith(b"HTTP/1.1 200 OK") and b"text/event-stream" in head_bytes


async def test_a_header_from_the_network_that_would_break_the_head_is_a_502(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.add(
        [head(200, "application/json", ("x-cocoon-worker", "w\r\nSet-Cookie: a=b")), chunk(b"{}"), END]
    )
    resp = await client.post("/v1/chat/completions", json=chat_body(stream=False))
    assert resp.status == 502 and "Set-Cookie" not in resp.headers
    assert (await resp.json())["error"]["code"] == "upstream_error"


async def test_an_idle_connection_is_closed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_lane, "KEEPALIVE_S", 0.2)
    async with connect(client) as (reader, writer):
        writer.write(raw_post(chat_body(stream=False)))
        await read_response(reader)
        assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_stopping_lets_a_request_in_flight_finish_and_closes_idle_connections(
    backend: FakeBackend,
) -> None:
    gate = Gate()
    backend.add([head(200, "application/json"), gate, chunk(b'{"ok":1}'), END])
    async with (
        served(make_client_app(backend), lane=True) as client,
        connect(client) as (idle_reader, _),
        connect(client) as (busy_reader, busy_writer),
    ):
        busy_writer.write(raw_post(chat_body(stream=False)))
        await gate.reached.wait()
        assert client.server.runner is not None
        stopping = asyncio.create_task(client.server.runner.cleanup())
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""
        gate.opened.set()
        head_bytes, body = await read_response(busy_reader)
        await asyncio.wait_for(stopping, 5)
        assert head_bytes.startswith(b"HTTP/1.1 200") and b"Connection: close" in head_bytes
        assert json.loads(body) == {"ok": 1}


async def test_a_failure_before_any_answer_is_a_500_and_the_connection_closes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(request: object, body: bytes) -> WholeAnswer:
        raise RuntimeError("a bug")

    monkeypatch.setattr(lane_in(client), "handle", broken)
    async with connect(client) as (reader, writer):
        writer.write(raw_post(chat_body(stream=False)))
        head_bytes, body = await read_response(reader)
        assert head_bytes.startswith(b"HTTP/1.1 500 ") and b"Connection: close" in head_bytes
        assert json.loads(body)["error"]["code"] == "internal_error"
        assert await reader.read() == b""


def test_the_lane_and_its_handover_work_on_uvloop() -> None:
    """The daemon runs on uvloop, whose transports are not `asyncio.Transport` subclasses: answers,
    pipelining and handing a connection to aiohttp midway, on uvloop."""

    async def scenario() -> None:
        access = AccessControl(OriginPolicy.from_config(["https://app.example"]))
        async with served(make_client_app(FakeBackend(), access=access), lane=True) as client:
            await test_requests_on_one_connection_and_pipelined_ones_are_answered_in_order(client)
        async with served(make_client_app(FakeBackend(), access=access), lane=True) as client:
            await test_other_routes_and_browser_requests_are_aiohttps_for_the_rest_of_the_connection(client)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())

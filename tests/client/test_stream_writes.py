"""How a streamed answer is written: each event as it comes, the last ones with the response's end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest
from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_protocol import RequestHandler
from client_answers import CONTENT, END, USAGE_EVENT, chat_body, chunk, data_of, error, head

from cocoon.client.fake_backend import FakeBackend, Gate
from cocoon.client.http_api import make_client_app
from cocoon.wire.sse import DONE_EVENT


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_client_app(backend))) as test_client:
        yield test_client


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes]]:
    """Every write of a response body, as ("write" | "eof", bytes); aiohttp's own later call of
    ``write_eof`` (which writes nothing once the end was written) is left out."""
    seen: list[tuple[str, bytes]] = []
    ended: set[int] = set()
    write, write_eof = web.StreamResponse.write, web.StreamResponse.write_eof

    async def recording_write(self: web.StreamResponse, data: bytes) -> None:
        seen.append(("write", bytes(data)))
        await write(self, data)

    async def recording_eof(self: web.StreamResponse, data: bytes = b"") -> None:
        if id(self) not in ended:
            ended.add(id(self))
            seen.append(("eof", bytes(data)))
        await write_eof(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", recording_write)
    monkeypatch.setattr(web.StreamResponse, "write_eof", recording_eof)
    return seen


async def test_the_usage_chunk_and_done_go_out_with_the_end_of_the_response(
    client: TestClient, backend: FakeBackend, writes: list[tuple[str, bytes]]
) -> None:
    backend.add([head(), chunk(CONTENT), chunk(CONTENT + USAGE_EVENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body(usage=True))
    raw = await resp.read()
    assert writes[:2] == [("write", CONTENT), ("write", CONTENT)]  # each event as it came, not held
    kind, last = writes[2]
    assert len(writes) == 3 and kind == "eof" and last.endswith(DONE_EVENT)
    assert raw == CONTENT + CONTENT + last
    data = data_of(raw)
    assert data[-2]["usage"]["total_cost"] == END.cost and data[-1] == "[DONE]"


async def test_without_usage_done_goes_out_with_the_end(
    client: TestClient, backend: FakeBackend, writes: list[tuple[str, bytes]]
) -> None:
    backend.add([head(), chunk(CONTENT + USAGE_EVENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert await resp.read() == CONTENT + DONE_EVENT
    assert writes == [("write", CONTENT), ("eof", DONE_EVENT)]


async def test_a_late_error_and_done_go_out_with_the_end(
    client: TestClient, backend: FakeBackend, writes: list[tuple[str, bytes]]
) -> None:
    backend.add([head(), chunk(CONTENT), error()])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    data = data_of(await resp.read())
    assert data[1]["error"]["code"] == "upstream_error" and data[-1] == "[DONE]"
    assert [kind for kind, _ in writes] == ["write", "eof"] and writes[1][1].endswith(DONE_EVENT)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the server's response writers hand their transport, one entry a system call."""
    seen: list[bytes] = []
    write, writelines = StreamWriter._write, StreamWriter._writelines

    def recording_write(self: StreamWriter, chunk: bytes) -> None:
        if isinstance(self.protocol, RequestHandler):
            seen.append(bytes(chunk))
        write(self, chunk)

    def recording_writelines(self: StreamWriter, chunks: Iterable[bytes]) -> None:
        chunks = list(chunks)
        if isinstance(self.protocol, RequestHandler):
            seen.append(b"".join(chunks))
        writelines(self, chunks)

    monkeypatch.setattr(StreamWriter, "_write", recording_write)
    monkeypatch.setattr(StreamWriter, "_writelines", recording_writelines)
    return seen


async def test_the_head_goes_out_with_a_first_chunk_that_is_ready(
    client: TestClient, backend: FakeBackend, sent: list[bytes]
) -> None:
    backend.add([head(), chunk(CONTENT), chunk(CONTENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert await resp.read() == CONTENT + CONTENT + DONE_EVENT
    assert sent[0].startswith(b"HTTP/1.1 200 OK\r\n") and sent[0].endswith(CONTENT + b"\r\n")
    assert len(sent) == 3  # head and first chunk, the second chunk, then [DONE] with the end


async def test_the_head_goes_out_at_once_when_the_first_chunk_waits(
    client: TestClient, backend: FakeBackend, sent: list[bytes]
) -> None:
    gate = Gate()
    backend.add([head(), gate, chunk(CONTENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())  # returns once the head came
    assert resp.status == 200 and gate.reached.is_set() and not gate.opened.is_set()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert len(sent) == 1 and sent[0].startswith(b"HTTP/1.1 200 OK\r\n")  # the head alone
    gate.opened.set()
    assert await resp.read() == CONTENT + DONE_EVENT

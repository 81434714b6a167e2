"""EngineClient against the in-process fake engine: relay, usage, errors, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine
from cocoon.errors import EngineError, EngineStatusError, EngineTimeoutError
from cocoon.wire.sse import SseParser
from waiting import wait_until

BODY = {
    "model": "fake-model",
    "messages": [{"role": "user", "content": "alpha beta"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


@pytest.fixture
async def client(fake: RunningFakeEngine) -> AsyncIterator[EngineClient]:
    async with EngineClient(fake.base_url, idle_timeout=2.0) as engine_client:
        yield engine_client


def contents(data: bytes) -> list[str]:
    """The content deltas of a chat stream."""
    parser = SseParser()
    out = []
    for event in parser.feed(data):
        if event.is_done:
            continue
        chunk = json.loads(event.data)
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                out.append(choice["delta"]["content"])
    return out


async def test_stream_relays_whole_events_and_meters_usage(
    fake: RunningFakeEngine, client: EngineClient
) -> None:
    fake.state.config = fake.state.config.replace({"chunks": 200, "cached_tokens": 1, "reasoning_tokens": 5})
    pieces = []
    async with await client.stream("/v1/chat/completions", BODY) as answer:
        async for data in answer:
            pieces.append(data)
            # every relayed piece ends at an event boundary
            assert data.endswith(b"\n\n")
    assert answer.done
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 200)
    assert (answer.usage.cached_tokens, answer.usage.reasoning_tokens) == (1, 5)
    body = b"".join(pieces)
    assert body.endswith(b"data: [DONE]\n\n")
    assert contents(body) == ["alpha ", "beta "] * 100
    assert answer.events == 1 + 200 + 1 + 1 + 1  # role, contents, finish, usage, [DONE]


async def test_paths_with_and_without_v1_prefix(client: EngineClient) -> None:
    assert client.url("/v1/completions") == client.url("completions")
    assert client.url("chat/completions").endswith("/v1/chat/completions")


async def test_complete_returns_body_and_usage(client: EngineClient) -> None:
    answer = await client.complete(
        "/v1/completions", {"model": "fake-model", "prompt": "hi there", "max_tokens": 2}
    )
    assert answer.status == 200
    assert answer.data["choices"][0]["text"] == "hi there "
    assert json.loads(answer.body) == answer.data
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 2)


async def test_engine_4xx_is_passed_through(client: EngineClient) -> None:
    with pytest.raises(EngineStatusError) as caught:
        await client.stream("/v1/chat/completions", {**BODY, "model": "nope"})
    assert caught.value.status == 404
    assert caught.value.is_client_error
    assert caught.value.error["code"] == "model_not_found"
    assert "does not exist" in str(caught.value.error["message"])


async def test_engine_5xx_is_a_status_error(fake: RunningFakeEngine, client: EngineClient) -> None:
    fake.state.config = fake.state.config.replace({"fail_status": 503})
    with pytest.raises(EngineStatusError) as caught:
        await client.complete("/v1/chat/completions", {**BODY, "stream": False})
    assert caught.value.status == 503 and not caught.value.is_client_error


async def test_unreachable_engine() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with EngineClient(f"http://127.0.0.1:{port}/v1", connect_timeout=1.0) as dead:
        with pytest.raises(EngineError, match="cannot reach"):
            await dead.health()
        with pytest.raises(EngineError, match="cannot reach"):
            await dead.stream("/v1/chat/completions", BODY)


async def test_health_lists_models(client: EngineClient) -> None:
    assert await client.health() == ["fake-model"]


async def test_dropped_stream_is_an_error_after_the_whole_events(
    fake: RunningFakeEngine, client: EngineClient
) -> None:
    fake.state.config = fake.state.config.replace({"drop_after": 3})
    received = bytearray()
    answer = await client.stream("/v1/chat/completions", BODY)
    with pytest.raises(EngineError, match=r"broke the stream|without \[DONE\]"):
        async for data in answer:
            received += data
    assert contents(bytes(received)) == ["alpha ", "beta ", "alpha "]
    assert not answer.done and answer.usage is None


async def test_hung_engine_hits_the_idle_timeout(fake: RunningFakeEngine) -> None:
    fake.state.config = fake.state.config.replace({"hang_after": 2})
    async with EngineClient(fake.base_url, idle_timeout=0.3) as impatient:
        answer = await impatient.stream("/v1/chat/completions", BODY)
        with pytest.raises(EngineTimeoutError):
            async for _ in answer:
                pass


async def test_deadline_bounds_the_whole_call(fake: RunningFakeEngine, client: EngineClient) -> None:
    fake.state.config = fake.state.config.replace({"chunks": 50, "delay_ms": 20.0})
    answer = await client.stream("/v1/chat/completions", BODY, timeout_s=0.2)
    with pytest.raises(EngineTimeoutError):
        async for _ in answer:
            pass


async def test_closing_early_aborts_the_engine_call(fake: RunningFakeEngine, client: EngineClient) -> None:
    fake.state.config = fake.state.config.replace({"chunks": 1000, "delay_ms": 5.0})
    async with await client.stream("/v1/chat/completions", BODY) as answer:
        async for _ in answer:
            break  # the consumer stops after the first piece
    await wait_until(lambda: fake.state.aborted == 1)
    assert fake.state.completed == 0 and fake.state.active == 0


async def test_cancelling_the_task_aborts_the_engine_call(
    fake: RunningFakeEngine, client: EngineClient
) -> None:
    fake.state.config = fake.state.config.replace({"chunks": 1000, "delay_ms": 5.0})
    first = asyncio.Event()

    async def relay() -> None:
        async with await client.stream("/v1/chat/completions", BODY) as answer:
            async for _ in answer:
                first.set()

    task = asyncio.create_task(relay())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: fake.state.aborted == 1)


@asynccontextmanager
async def odd_engine(*writes: bytes) -> AsyncIterator[EngineClient]:
    """An engine that answers every chat request 200 with exactly ``writes`` and then ends the body."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for data in writes:
            await resp.write(data)
        await resp.write_eof()
        return resp

    async with chat_engine(handler) as client:
        yield client


@asynccontextmanager
async def chat_engine(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], api_key: str | None = None
) -> AsyncIterator[EngineClient]:
    """An `EngineClient` on an engine whose chat route is ``handler``."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with EngineClient(f"http://127.0.0.1:{runner.addresses[0][1]}/v1", api_key=api_key) as client:
            yield client
    finally:
        await runner.cleanup()


async def test_error_event_mid_stream_is_raised_after_earlier_events() -> None:
    async with odd_engine(
        b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
        b'data: {"error": {"message": "KV cache full", "type": "server_error", "code": 503}}\n\n'
    ) as odd:
        answer = await odd.stream("/v1/chat/completions", BODY)
        received = []
        with pytest.raises(EngineStatusError, match="KV cache full") as caught:
            async for data in answer:
                received.append(data)
        assert contents(b"".join(received)) == ["a"]
        assert caught.value.status == 503


async def test_clean_end_without_done_is_an_incomplete_answer() -> None:
    async with odd_engine(b'data: {"choices": []}\n\n') as odd:
        answer = await odd.stream("/v1/chat/completions", BODY)
        with pytest.raises(EngineError, match=r"without \[DONE\]"):
            async for _ in answer:
                pass


async def test_cr_line_endings_and_a_final_lone_cr() -> None:
    usage = b'{"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}'
    async with odd_engine(b"data: " + usage + b"\r\r", b"data: [DONE]\r\r") as odd:
        async with await odd.stream("/v1/chat/completions", BODY) as answer:
            received = b"".join([data async for data in answer])
        assert answer.done and received.endswith(b"[DONE]\r\r")
        assert answer.usage is not None
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 2)


async def test_garbage_instead_of_sse_is_an_engine_error() -> None:
    async with odd_engine(b"data: not json\n\n") as odd:
        answer = await odd.stream("/v1/chat/completions", BODY)
        with pytest.raises(EngineError, match="not JSON"):
            async for _ in answer:
                pass


async def test_each_call_sends_its_own_headers() -> None:
    """The shared header mappings: a stream asks for SSE, a whole answer does not, the key goes on both."""
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append({k: request.headers.get(k, "") for k in ("Content-Type", "Accept", "Authorization")})
        if (await request.json()).get("stream"):
            return web.Response(body=b"data: [DONE]\n\n", content_type="text/event-stream")
        return web.json_response({"choices": []})

    async with chat_engine(handler, api_key="k") as client:
        async with await client.stream("/v1/chat/completions", BODY) as answer:
            assert [data async for data in answer] == [b"data: [DONE]\n\n"]
        await client.complete("/v1/chat/completions", {"model": "m"})
    assert [s["Accept"] for s in seen] == ["text/event-stream", "*/*"]
    assert {s["Content-Type"] for s in seen} == {"application/json"}
    assert {s["Authorization"] for s in seen} == {"Bearer k"}


async def test_a_deadline_after_calls_without_one_still_bounds_the_call(
    fake: RunningFakeEngine, client: EngineClient
) -> None:
    """Timeouts are built once per distinct deadline: each call still gets its own."""
    first = await client.stream("/v1/chat/completions", BODY)
    async for _ in first:
        pass
    fake.state.config = fake.state.config.replace({"chunks": 50, "delay_ms": 20.0})
    for _ in range(2):
        answer = await client.stream("/v1/chat/completions", BODY, timeout_s=0.2)
        with pytest.raises(EngineTimeoutError):
            async for _ in answer:
                pass

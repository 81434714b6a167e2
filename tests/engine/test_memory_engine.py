"""MemoryEngine gives the same bytes, usage and failures as the fake HTTP engine read by EngineClient."""

from __future__ import annotations

import asyncio
import re

import pytest

from cocoon.clock import FakeClock
from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine
from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import EngineError, EngineStatusError, EngineTimeoutError

BODY = {
    "model": "fake-model",
    "messages": [{"role": "user", "content": "one two three"}],
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_tokens": 5,
}


def normalized(data: bytes) -> bytes:
    """Ids and timestamps differ between engines; everything else must not."""
    data = re.sub(rb'"id":"[^"]+"', b'"id":"X"', data)
    return re.sub(rb'"created":\d+', b'"created":0', data)


async def test_same_stream_as_the_http_fake(fake: RunningFakeEngine) -> None:
    fake.state.config = fake.state.config.replace({"cached_tokens": 2})
    memory = MemoryEngine(FakeEngineConfig(cached_tokens=2))
    async with (
        EngineClient(fake.base_url) as client,
        await client.stream("/v1/chat/completions", BODY) as http,
    ):
        over_http = b"".join([data async for data in http])
    async with await memory.stream("chat/completions", BODY) as local:
        in_memory = b"".join([data async for data in local])
    assert normalized(in_memory) == normalized(over_http)
    assert local.usage == http.usage and local.usage is not None
    assert local.events == http.events and local.done
    assert (memory.completed, memory.aborted) == (1, 0)
    assert memory.calls == [("/v1/chat/completions", BODY)]


async def test_complete_and_refusals() -> None:
    memory = MemoryEngine()
    answer = await memory.complete(
        "/v1/completions", {"model": "fake-model", "prompt": "a b", "max_tokens": 3}
    )
    assert answer.data["choices"][0]["text"] == "a b a "
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    with pytest.raises(EngineStatusError) as caught:
        await memory.stream("/v1/chat/completions", {**BODY, "model": "other"})
    assert caught.value.status == 404 and caught.value.error["code"] == "model_not_found"
    memory.config = memory.config.replace({"fail_status": 500})
    with pytest.raises(EngineStatusError, match="HTTP 500"):
        await memory.complete("/v1/completions", {"model": "fake-model", "prompt": "x"})


async def test_drop_hang_deadline_and_abort() -> None:
    memory = MemoryEngine(FakeEngineConfig(drop_after=2))
    received = []
    with pytest.raises(EngineError, match="broke the stream"):
        async for data in await memory.stream("/v1/chat/completions", BODY):
            received.append(data)
    assert len(received) == 3  # the role event and two content events
    assert (memory.dropped, memory.aborted) == (1, 1)

    memory.config = FakeEngineConfig(hang_after=1)
    stream = await memory.stream("/v1/chat/completions", BODY, timeout_s=0.1)
    with pytest.raises(EngineTimeoutError):
        async for _ in stream:
            pass

    memory.config = FakeEngineConfig(hang_after=0)
    stream = await memory.stream("/v1/chat/completions", BODY)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream.__anext__(), 0.05)  # the role event comes at once...
        await asyncio.wait_for(stream.__anext__(), 0.05)  # ...then nothing
    assert memory.aborted == 3


async def test_the_engine_reads_time_from_its_clock() -> None:
    clock = FakeClock(wall=1_234_567_890.0)
    memory = MemoryEngine(FakeEngineConfig(delay_ms=10_000), clock=clock)
    stream = await memory.stream("/v1/chat/completions", BODY, timeout_s=0)
    first = await stream.__anext__()  # the role event is due at once
    assert b'"created":1234567890' in first
    with pytest.raises(EngineTimeoutError):  # the next one, 10 s away, is past the deadline at once
        await stream.__anext__()


@pytest.mark.parametrize("status", [400, 503])
async def test_a_mid_stream_error_event_is_the_same_failure_after_the_same_bytes(
    fake: RunningFakeEngine, status: int
) -> None:
    fake.state.config = fake.state.config.replace({"error_after": 2, "error_status": status})
    memory = MemoryEngine(FakeEngineConfig(error_after=2, error_status=status))
    results = []
    async with EngineClient(fake.base_url) as client:
        for engine in (client, memory):
            stream = await engine.stream("/v1/chat/completions", BODY)
            relayed = []
            with pytest.raises(EngineStatusError) as caught:
                async for data in stream:
                    relayed.append(data)
            assert caught.value.status == status and "failed mid-stream" in str(caught.value)
            assert stream.usage is None and not stream.done
            results.append((normalized(b"".join(relayed)), stream.generated))
    assert results[0] == results[1] and results[0][1] == 2  # the role event, two words, nothing more
    assert b"two " in results[0][0] and b"three" not in results[0][0]
    assert (memory.completed, memory.aborted) == (0, 0)


async def test_the_generated_pieces_of_a_whole_stream_are_its_completion_tokens() -> None:
    memory = MemoryEngine()
    async with await memory.stream("chat/completions", {**BODY, "n": 2}) as local:
        _ = [data async for data in local]
    assert local.usage is not None and local.generated == local.usage.completion_tokens == 10

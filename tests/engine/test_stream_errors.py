"""In-stream errors as real engines send them, read by `EngineClient`: the events before the error are
relayed and counted, then an `EngineStatusError` with the error's code as its status.

vLLM sends ``{"error": {...}}`` today; older vLLM sent the error object's members at the top level
(``{"object": "error", "message", "type", "param", "code"}``), which must not pass as a chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from cocoon.engine.client import EngineClient
from cocoon.errors import EngineStatusError

ERROR = web.AppKey("error", list)
"""The error event the engine sends next (a one-item list, set by each test)."""
HEAD = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
OLD_VLLM = {
    "object": "error",
    "message": "too long",
    "type": "BadRequestError",
    "param": "messages",
    "code": 400,
}


def sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(
        sse({**HEAD, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    )
    for word in ("one ", "two "):
        await response.write(sse({**HEAD, "choices": [{"index": 0, "delta": {"content": word}}]}))
    await response.write(sse(request.app[ERROR][0]) + b"data: [DONE]\n\n")
    await response.write_eof()
    return response


@pytest.fixture
async def engine() -> AsyncIterator[tuple[web.Application, EngineClient]]:
    app = web.Application()
    app[ERROR] = [{}]
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with EngineClient(f"http://127.0.0.1:{port}/v1") as client:
        yield app, client
    await runner.cleanup()


@pytest.mark.parametrize("error", [{"error": OLD_VLLM}, OLD_VLLM], ids=["wrapped", "old-vllm"])
async def test_an_in_stream_error_ends_the_stream_after_what_came_before(
    engine: tuple[web.Application, EngineClient], error: dict[str, Any]
) -> None:
    app, client = engine
    app[ERROR][0] = error
    stream = await client.stream("/v1/chat/completions", {"model": "m", "stream": True})
    relayed = []
    with pytest.raises(EngineStatusError) as caught:
        async for data in stream:
            relayed.append(data)
    assert caught.value.status == 400 and "too long" in str(caught.value)
    assert caught.value.error["param"] == "messages"
    assert b"two " in b"".join(relayed) and b"error" not in b"".join(relayed)
    assert stream.generated == 2 and stream.usage is None and not stream.done

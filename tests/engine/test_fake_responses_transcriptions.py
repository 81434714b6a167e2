"""The fake engine's Responses API and transcriptions, over HTTP with the official SDK and through the
worker's `EngineClient` (a Responses stream ends without ``[DONE]``; a form body), and the same bytes
from `MemoryEngine`."""

from __future__ import annotations

import re

import openai
import pytest
from aiohttp import web

from cocoon.api.multipart import FormPart, encode_form
from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import EngineStatusError
from cocoon.usage import Usage

MODEL = "fake-model"
AUDIO = bytes(6400)


def normalized(data: bytes) -> bytes:
    data = re.sub(rb"(resp_|fc_|msg_)[A-Za-z0-9_-]+", rb"\1X", data)
    return re.sub(rb'"created(_at)?":\d+', b'"created":0', data)


async def test_the_sdk_reads_responses_whole_and_streamed(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.responses.create(model=MODEL, input="red green blue", max_output_tokens=50)
    assert whole.output_text == "red green blue " * 2 + "red green "
    assert whole.usage is not None and (whole.usage.input_tokens, whole.usage.output_tokens) == (4, 8)
    async with sdk.responses.stream(model=MODEL, input="red green blue", max_output_tokens=50) as stream:
        final = await stream.get_final_response()
    assert final.output_text == whole.output_text and final.usage == whole.usage
    with pytest.raises(openai.BadRequestError) as info:
        await sdk.responses.create(model=MODEL, input=[{"type": "item_reference", "id": "x"}])  # type: ignore[list-item]
    assert info.value.body["param"] == "input[0].type"  # type: ignore[index]


async def test_a_responses_stream_ends_without_done_and_carries_its_usage(fake: RunningFakeEngine) -> None:
    body = {"model": MODEL, "input": "a b c", "stream": True, "max_output_tokens": 3}
    async with EngineClient(fake.base_url) as client, await client.stream("/v1/responses", body) as answer:
        data = b"".join([chunk async for chunk in answer])
    assert answer.done and b"[DONE]" not in data
    assert data.rstrip().endswith(b"}") and b"event: response.incomplete" in data
    assert answer.usage == Usage(prompt_tokens=2, completion_tokens=3)
    memory = MemoryEngine()
    async with await memory.stream("/v1/responses", body) as local:
        local_bytes = b"".join([chunk async for chunk in local])
    assert normalized(local_bytes) == normalized(data) and local.usage == answer.usage


FAILING = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{}}\n\n'
    b'event: error\ndata: {"type":"error","sequence_number":1,"code":"server_error","message":"boom"}\n\n'
)


async def test_an_error_event_is_an_engine_error_after_the_events_before_it() -> None:
    """What vLLM sends when generation fails mid-answer."""

    async def failing(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FAILING)
        return response

    app = web.Application()
    app.router.add_post("/v1/responses", failing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        async with EngineClient(url) as client:
            answer = await client.stream("/v1/responses", {"model": MODEL, "input": "x", "stream": True})
            received = []
            with pytest.raises(EngineStatusError, match="boom"):
                async for chunk in answer:
                    received.append(chunk)
    finally:
        await runner.cleanup()
    assert b"".join(received) == FAILING.split(b"\n\n")[0] + b"\n\n"


async def test_the_sdk_transcribes_and_the_engine_client_sends_forms(
    sdk: openai.AsyncOpenAI, fake: RunningFakeEngine
) -> None:
    text = await sdk.audio.transcriptions.create(model=MODEL, file=("a.wav", AUDIO), prompt="hi")
    assert text.text == "transcript of a.wav: 6400 bytes hi"
    form = encode_form([FormPart("model", MODEL.encode()), FormPart("file", AUDIO, "a.wav")])
    async with EngineClient(fake.base_url) as client:
        answer = await client.complete("/v1/audio/transcriptions", form)
        assert answer.usage == Usage(prompt_tokens=10, completion_tokens=8)
        bad = encode_form([FormPart("model", b"other"), FormPart("file", AUDIO, "a.wav")])
        with pytest.raises(EngineStatusError) as info:
            await client.complete("/v1/audio/transcriptions", bad)
    assert info.value.status == 404
    local = await MemoryEngine().complete("/v1/audio/transcriptions", form)
    assert local.body == answer.body and local.usage == answer.usage

"""The built-in engine's front, in front of a real upstream (the fake engine), read by the official SDK.

The fake engine answers forced tool calls and ``n`` itself, so each test also checks what the upstream
was asked: that the front rewrote the request, not just that the answer looks right.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from pydantic import BaseModel

from cocoon.clock import FakeClock
from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine, start_fake_engine
from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.llama_front import start_front
from cocoon.engine.llama_rewrite import CALL_SCHEMA_NAME
from cocoon.engine.tool_calls import tool_call_id
from cocoon.errors import ConfigError
from cocoon.wire.sse import SseParser
from waiting import wait_until


class Place(BaseModel):
    city: str
    zip: int


class Forecast(BaseModel):
    place: Place
    days: list[int]
    windy: bool


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a place",
        "parameters": Forecast.model_json_schema(),  # with $defs: they must survive the rewrite
    },
}
CLOCK: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}
TOOLS: Any = [CLOCK, WEATHER]
ASK: Any = [{"role": "user", "content": "Paris please"}]
NAMED: Any = {"type": "function", "function": {"name": "get_weather"}}
MODEL = "fake-model"


class Front:
    """A front on a free port in front of ``upstream``; ``url`` is its base (no ``/v1``)."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
async def front(fake: RunningFakeEngine) -> AsyncIterator[Front]:
    runner, port = await start_front(fake.url, "127.0.0.1", 0)
    yield Front(runner, port)
    await runner.cleanup()


@pytest.fixture
async def client(front: Front) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official SDK pointed at the front (no retries: each request reaches the upstream once)."""
    sdk = openai.AsyncOpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0, timeout=10)
    yield sdk
    await sdk.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def asked(fake: RunningFakeEngine) -> Any:
    """The last body the upstream received."""
    return fake.state.last_body


def sse_data(raw: bytes) -> list[Any]:
    parser = SseParser()
    events = parser.feed(raw)
    assert not parser.truncated
    return [e.data if e.is_done else json.loads(e.data) for e in events]


# forced tool calls


async def test_a_named_tool_call_is_asked_as_json_and_answered_as_tool_calls(
    fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, tool_choice=NAMED, max_tokens=500
    )
    upstream = asked(fake)
    assert "tools" not in upstream and "tool_choice" not in upstream
    assert upstream["response_format"]["json_schema"]["name"] == CALL_SCHEMA_NAME
    assert upstream["messages"][0]["role"] == "system" and "get_weather" in upstream["messages"][0]["content"]
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call: Any = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    forecast = Forecast.model_validate_json(call.function.arguments)  # valid JSON matching the schema
    assert forecast.place.city == "Paris"
    assert call.id == tool_call_id("get_weather", call.function.arguments, 0)
    assert answer.usage is not None and answer.usage.completion_tokens > 0


async def test_a_streamed_forced_call_is_one_chunk_with_the_whole_call(
    fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=TOOLS,
        tool_choice=NAMED,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert asked(fake)["stream"] is False and "tools" not in asked(fake)
    assert chunks[0].choices[0].delta.role == "assistant"
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1
    call = calls[0]
    assert call.index == 0 and call.type == "function" and call.function is not None
    assert call.function.name == "get_weather" and call.function.arguments is not None
    Forecast.model_validate_json(call.function.arguments)
    assert call.id == tool_call_id("get_weather", call.function.arguments, 0)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0 and chunks[-1].usage.completion_tokens > 0


async def test_required_with_two_tools_calls_one_of_them(
    fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, tool_choice="required"
    )
    schema = asked(fake)["response_format"]["json_schema"]["schema"]
    assert [alt["properties"]["name"]["const"] for alt in schema["anyOf"]] == ["get_time", "get_weather"]
    assert "Place" in next(iter(schema["$defs"])) and "tools" not in asked(fake)
    call: Any = (answer.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_time"  # the fake answers the first alternative
    assert json.loads(call.function.arguments) == {"tz": "Paris"}
    assert answer.choices[0].finish_reason == "tool_calls"


async def test_a_cut_forced_call_keeps_length_and_the_raw_arguments(client: openai.AsyncOpenAI) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[CLOCK], tool_choice="required", max_tokens=10
    )
    choice = answer.choices[0]
    call: Any = (choice.message.tool_calls or [])[0]
    assert choice.finish_reason == "length" and call.function.name == "get_time"
    # The fake's answer {"name":"get_time","arguments":{"tz":"Paris"}} cut after 10 tokens of 4 characters.
    assert call.function.arguments == '{"tz":"Pa'


async def test_forced_calls_with_n_2_are_two_calls(
    fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, tool_choice=NAMED, n=2
    )
    assert fake.state.by_path["/v1/chat/completions"] == 2 and asked(fake)["n"] == 1
    assert [c.index for c in answer.choices] == [0, 1]
    calls: Any = [(c.message.tool_calls or [])[0] for c in answer.choices]
    assert [c.function.name for c in calls] == ["get_weather"] * 2
    assert [c.id for c in calls] == [
        tool_call_id("get_weather", calls[0].function.arguments, i) for i in (0, 1)
    ]


async def test_a_named_tool_not_in_tools_is_refused_before_the_engine(
    fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=MODEL,
            messages=ASK,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "x"}},
        )
    assert caught.value.param == "tool_choice"
    assert fake.state.requests == 0


async def test_auto_tool_choice_passes_through(fake: RunningFakeEngine, client: openai.AsyncOpenAI) -> None:
    await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="auto")
    assert asked(fake)["tools"] == TOOLS and asked(fake)["tool_choice"] == "auto"


# n > 1


async def test_n_2_is_two_requests_and_usage_counts_both(
    fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    single = await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=3)
    fake.state.reset()
    double = await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=3, n=2, seed=7)
    assert fake.state.by_path["/v1/chat/completions"] == 2
    assert asked(fake)["n"] == 1 and asked(fake)["seed"] in (7, 8)
    assert [c.index for c in double.choices] == [0, 1]
    assert all(c.message.content == single.choices[0].message.content for c in double.choices)
    assert single.usage is not None and double.usage is not None
    assert double.usage.prompt_tokens == single.usage.prompt_tokens
    assert double.usage.completion_tokens == 2 * single.usage.completion_tokens
    assert double.usage.total_tokens == double.usage.prompt_tokens + double.usage.completion_tokens


async def test_n_3_completions(fake: RunningFakeEngine, client: openai.AsyncOpenAI) -> None:
    answer = await client.completions.create(model=MODEL, prompt="one two", n=3, max_tokens=2)
    assert fake.state.by_path["/v1/completions"] == 3
    assert [c.index for c in answer.choices] == [0, 1, 2] and answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 6)


async def test_n_2_streamed_merges_both_streams_with_one_usage_and_one_done(
    fake: RunningFakeEngine, front: Front, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": MODEL,
        "messages": [*ASK, {"role": "user", "content": "a b c"}],
        "n": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.post(front.url + "/v1/chat/completions", json=body) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        events = sse_data(await resp.read())
    assert fake.state.by_path["/v1/chat/completions"] == 2
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    usage_chunks = [e for e in events[:-1] if e.get("usage")]
    assert len(usage_chunks) == 1 and usage_chunks[0] is events[-2] and events[-2]["choices"] == []
    texts: dict[int, str] = {}
    for event in events[:-2]:
        for choice in event["choices"]:
            texts[choice["index"]] = texts.get(choice["index"], "") + (choice["delta"].get("content") or "")
    assert texts == {0: "a b c a b c a b ", 1: "a b c a b c a b "}
    assert len({e["id"] for e in events[:-1]}) == 1
    # prompt "Paris please\na b c" = 18 characters: 5 tokens, once; 8 chunks a choice.
    assert events[-2]["usage"]["prompt_tokens"] == 5 and events[-2]["usage"]["completion_tokens"] == 16


async def test_n_2_streamed_through_the_sdk(fake: RunningFakeEngine, client: openai.AsyncOpenAI) -> None:
    stream = await client.completions.create(
        model=MODEL, prompt="x y", n=2, stream=True, stream_options={"include_usage": True}, max_tokens=3
    )
    chunks = [c async for c in stream]
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert texts == {0: "x y x ", 1: "x y x "} and fake.state.by_path["/v1/completions"] == 2
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


# pass-through


async def test_a_plain_stream_passes_through_byte_for_byte(http: aiohttp.ClientSession) -> None:
    # Two fresh fake engines on one stopped clock answer the same request with the same bytes.
    direct = await start_fake_engine(FakeEngineConfig(), clock=FakeClock())
    behind = await start_fake_engine(FakeEngineConfig(), clock=FakeClock())
    runner, port = await start_front(behind.url, "127.0.0.1", 0)
    body = {
        "model": MODEL,
        "messages": ASK,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": TOOLS,
        "tool_choice": "auto",
        "n": 1,
    }
    try:
        async with http.post(direct.url + "/v1/chat/completions", json=body) as resp:
            expected = await resp.read()
            expected_type = resp.headers["Content-Type"]
        async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == expected_type
            got = await resp.read()
    finally:
        await runner.cleanup()
        await direct.close()
        await behind.close()
    assert got == expected and expected.endswith(b"data: [DONE]\n\n")


async def test_other_routes_pass_through(
    fake: RunningFakeEngine, front: Front, http: aiohttp.ClientSession
) -> None:
    payload = {"model": MODEL, "input": ["hello", "world"]}
    async with http.post(fake.url + "/v1/embeddings", json=payload) as resp:
        direct = await resp.read()
    async with http.post(front.url + "/v1/embeddings", json=payload) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert await resp.read() == direct
    async with http.get(front.url + "/v1/models") as resp:
        assert (await resp.json())["data"][0]["id"] == MODEL
    async with http.get(front.url + "/fake/stats?x=1") as resp:  # any route, query included
        assert (await resp.json())["by_path"]["/v1/embeddings"] == 2
    async with http.post(front.url + "/v1/nowhere", json={}) as resp:
        assert resp.status == 404  # the upstream's own answer


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/audio/transcriptions"])
async def test_responses_and_transcriptions_are_404_unknown_url(
    path: str, fake: RunningFakeEngine, front: Front, http: aiohttp.ClientSession
) -> None:
    async with http.post(front.url + path, json={"model": MODEL, "input": "hi"}) as resp:
        assert resp.status == 404
        error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "unknown_url"
    assert path in error["message"]
    assert fake.state.requests == 0  # the fake serves both: the front must not have asked it


async def test_responses_through_the_sdk_is_not_found(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model=MODEL, input="hi")
    assert caught.value.code == "unknown_url"


# errors


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"n": 2},
        {"n": 2, "stream": True},
        {"tools": TOOLS, "tool_choice": "required"},
        {"tools": TOOLS, "tool_choice": "required", "stream": True},
    ],
)
async def test_an_upstream_error_passes_through_with_its_status_and_body(
    extra: dict[str, Any], fake: RunningFakeEngine, front: Front, http: aiohttp.ClientSession
) -> None:
    body = {"model": MODEL, "messages": ASK, **extra}
    headers = {"X-Fake-Fail": "429"}  # request headers reach the upstream, the fan-out's too
    async with http.post(fake.url + "/v1/chat/completions", json=body, headers=headers) as resp:
        direct = await resp.read()
    async with http.post(front.url + "/v1/chat/completions", json=body, headers=headers) as resp:
        assert resp.status == 429 and resp.content_type == "application/json"
        assert await resp.read() == direct
    assert b"configured status 429" in direct


async def test_an_unreachable_engine_is_a_502(http: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # nothing listens there once the socket is closed
    runner, port = await start_front(f"http://127.0.0.1:{dead}", "127.0.0.1", 0)
    try:
        for extra in ({}, {"n": 2}, {"n": 2, "stream": True}):
            body = {"model": MODEL, "messages": ASK, **extra}
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as resp:
                assert resp.status == 502
                error = (await resp.json())["error"]
            assert error["type"] == "engine_error" and error["message"].startswith("the engine failed")
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("extra", [{}, {"n": 2}])
async def test_a_stream_the_engine_drops_is_cut_not_finished(
    extra: dict[str, Any], fake: RunningFakeEngine, front: Front, http: aiohttp.ClientSession
) -> None:
    body = {"model": MODEL, "messages": ASK, "stream": True, **extra}
    # Paced, so that what came before the cut arrives before it (a reset loses what is not yet read).
    headers = {"X-Fake-Drop-After": "2", "X-Fake-Delay-Ms": "20"}
    async with http.post(front.url + "/v1/chat/completions", json=body, headers=headers) as resp:
        assert resp.status == 200
        received = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            async for data in resp.content.iter_any():
                received += data
    assert b"Paris" in received and b"[DONE]" not in received
    assert fake.state.dropped == (2 if extra else 1)


@pytest.mark.parametrize("extra", [{}, {"n": 2}])
async def test_a_caller_who_leaves_frees_the_engine(
    extra: dict[str, Any], fake: RunningFakeEngine, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=ASK, stream=True, extra_headers={"X-Fake-Hang-After": "1"}, **extra
    )
    first = await asyncio.wait_for(anext(aiter(stream)), 5)
    assert first.choices[0].delta.role == "assistant"
    await stream.close()
    streams = 2 if extra else 1
    await wait_until(lambda: fake.state.aborted == streams, what="the upstream sees the caller leave")
    assert fake.state.active == 0


async def test_a_busy_port_is_a_config_error(front: Front) -> None:
    with pytest.raises(ConfigError, match="cannot listen"):
        await start_front("http://127.0.0.1:1", "127.0.0.1", int(front.url.rsplit(":", 1)[1]))


async def test_a_get_on_a_post_route_is_405_so_a_probe_tells_it_from_a_missing_route(front: Front) -> None:
    """llama-server answers GET on its POST routes with 404, as for a route it does not have; the
    worker's endpoint probe (EngineClient.serves) must see 405 there, and 404 only where nothing is."""
    async with aiohttp.ClientSession() as session:
        for path, status in [
            ("/v1/chat/completions", 405),
            ("/v1/completions", 405),
            ("/v1/embeddings", 405),
            ("/v1/responses", 404),
            ("/v1/audio/transcriptions", 404),
        ]:
            async with session.get(front.url + path) as resp:
                assert resp.status == status, path
    async with EngineClient(front.url) as engine:
        served = {
            p: await engine.serves(p) for p in ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
        }
    assert served == {"/v1/chat/completions": True, "/v1/embeddings": True, "/v1/responses": False}

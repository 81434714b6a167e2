"""The fake engine speaks OpenAI's API exactly enough for the official SDK, deterministically."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from cocoon.engine.fake import RunningFakeEngine
from waiting import wait_until

CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "red green blue"}]


def expected_text(words: list[str], chunks: int) -> str:
    return "".join(words[i % len(words)] + " " for i in range(chunks))


async def test_chat_not_streamed(fake: RunningFakeEngine, sdk: openai.AsyncOpenAI) -> None:
    fake.state.config = fake.state.config.replace({"cached_tokens": 2, "reasoning_tokens": 3})
    answer = await sdk.chat.completions.create(model="fake-model", messages=CHAT)
    assert answer.choices[0].message.content == expected_text(["red", "green", "blue"], 8)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    # prompt text is "be brief\nred green blue" = 23 chars -> ceil(23 / 4) = 6 tokens
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        6,
        8,
        14,
    )
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 2
    assert answer.usage.completion_tokens_details is not None
    assert answer.usage.completion_tokens_details.reasoning_tokens == 3


async def test_chat_streamed_with_usage_chunk(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="fake-model",
        messages=CHAT,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_text(["red", "green", "blue"], 8)
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["stop"]
    # the usage chunk comes last, with no choices; the others carry usage null
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (6, 8)


async def test_stream_without_include_usage_has_no_usage_chunk(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(model="fake-model", messages=CHAT, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_completions_streamed_and_not(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.completions.create(model="fake-model", prompt="one two", max_tokens=3)
    assert whole.choices[0].text == "one two one "
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 3
    stream = await sdk.completions.create(
        model="fake-model", prompt="one two", stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == expected_text(["one", "two"], 8)
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 8)


@pytest.mark.parametrize("cap_field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_caps_chunks(sdk: openai.AsyncOpenAI, cap_field: str) -> None:
    stream = await sdk.chat.completions.create(
        model="fake-model",
        messages=CHAT,
        stream=True,
        stream_options={"include_usage": True},
        **{cap_field: 3},
    )
    chunks = [chunk async for chunk in stream]
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert contents == ["red ", "green ", "blue "]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.parametrize("n", [2, 5])
async def test_n_gives_n_choices_and_usage_counts_them_all(sdk: openai.AsyncOpenAI, n: int) -> None:
    # as vLLM answers n: n choices by index, the prompt counted once, the completion tokens of every choice
    whole = await sdk.chat.completions.create(model="fake-model", messages=CHAT, max_tokens=3, n=n)
    assert [c.index for c in whole.choices] == list(range(n))
    assert {c.message.content for c in whole.choices} == {"red green blue "}
    assert {c.finish_reason for c in whole.choices} == {"length"}
    assert whole.usage is not None and (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (
        6,
        3 * n,
    )
    stream = await sdk.completions.create(
        model="fake-model",
        prompt="one two",
        max_tokens=3,
        n=n,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(len(c.choices) == 1 for c in chunks[:-1])  # one choice per chunk, as vLLM streams them
    for index in range(n):
        mine = [c.choices[0] for c in chunks[:-1] if c.choices[0].index == index]
        assert "".join(c.text for c in mine) == "one two one "
        assert [c.finish_reason for c in mine if c.finish_reason] == ["length"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3 * n


async def test_chunk_size_and_configured_usage(fake: RunningFakeEngine, sdk: openai.AsyncOpenAI) -> None:
    fake.state.config = fake.state.config.replace(
        {"chunks": 3, "chunk_size": 7, "prompt_tokens": 1000, "completion_tokens": 500}
    )
    answer = await sdk.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "ab"}]
    )
    assert answer.choices[0].message.content == "ab ab a" * 3
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1000, 500)


async def test_models_and_stats(fake: RunningFakeEngine, sdk: openai.AsyncOpenAI) -> None:
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    await sdk.completions.create(model="fake-model", prompt="x")
    async with aiohttp.ClientSession() as http, http.get(fake.url + "/fake/stats") as resp:
        stats = await resp.json()
    assert stats["by_path"] == {"/v1/models": 1, "/v1/completions": 1}
    assert stats["last_body"] == {"model": "fake-model", "prompt": "x"}
    assert stats["completed"] == 1 and stats["active"] == 0


async def test_unknown_model_and_bad_requests_are_rejected(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        await sdk.chat.completions.create(model="other", messages=CHAT)
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        await sdk.chat.completions.create(model="fake-model", messages=CHAT, max_tokens=0)
    with pytest.raises(openai.BadRequestError, match="messages"):
        await sdk.chat.completions.create(model="fake-model", messages=[])


async def test_fail_header_and_runtime_config(fake: RunningFakeEngine, sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        await sdk.chat.completions.create(
            model="fake-model",
            messages=CHAT,
            extra_headers={"X-Fake-Fail": "503"},
        )
    async with aiohttp.ClientSession() as http:
        async with http.post(fake.url + "/fake/config", json={"fail_status": 429}) as resp:
            assert (await resp.json())["fail_status"] == 429
        async with http.post(fake.url + "/fake/config", json={"no_such_setting": 1}) as resp:
            assert resp.status == 400
    with pytest.raises(openai.RateLimitError):
        await sdk.completions.create(model="fake-model", prompt="x")


async def test_drop_after_cuts_the_stream(sdk: openai.AsyncOpenAI, fake: RunningFakeEngine) -> None:
    stream = await sdk.chat.completions.create(
        model="fake-model",
        messages=CHAT,
        stream=True,
        extra_headers={"X-Fake-Drop-After": "2"},
    )
    received: list[str] = []
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "red green "
    assert (fake.state.dropped, fake.state.completed) == (1, 0)


async def test_hang_after_stops_sending(sdk: openai.AsyncOpenAI, fake: RunningFakeEngine) -> None:
    stream = await sdk.chat.completions.create(
        model="fake-model",
        messages=CHAT,
        stream=True,
        extra_headers={"X-Fake-Hang-After": "1"},
    )
    received: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read(), 0.5)
    await stream.close()
    assert "".join(received) == "red "
    await wait_until(lambda: fake.state.aborted, what="the server notices the caller left")
    assert fake.state.aborted == 1 and fake.state.active == 0


async def test_delay_paces_chunks(fake: RunningFakeEngine, sdk: openai.AsyncOpenAI) -> None:
    fake.state.config = fake.state.config.replace({"chunks": 4, "delay_ms": 30.0})
    loop = asyncio.get_running_loop()
    started = loop.time()
    stream = await sdk.chat.completions.create(model="fake-model", messages=CHAT, stream=True)
    arrivals = [loop.time() - started async for chunk in stream if chunk.choices[0].delta.content]
    assert len(arrivals) == 4
    assert arrivals[-1] >= 4 * 0.030 * 0.9

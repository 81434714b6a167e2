"""Log-probabilities of the fake engine, whole and streamed, chat and legacy completions."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine
from cocoon.engine.fake_answer import FakeEngineConfig, plan_answer
from cocoon.engine.fake_logprobs import logprob, top_tokens
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import EngineStatusError

MESSAGES: Any = [{"role": "user", "content": "sun moon"}]
PIECES = ["sun ", "moon "] * 4


def test_values_and_distinct_alternatives() -> None:
    assert [logprob(i) for i in (0, 1, 4, 5)] == [-0.01, -0.26, -1.01, -0.01]
    assert top_tokens("ab", 1, 4) == [("ab", -0.26), ("AB", -1.26), ("ab1", -2.26), ("ab2", -3.26)]
    assert [t for t, _ in top_tokens("{", 0, 3)] == ["{", "{1", "{2"]  # "{".upper() is no alternative
    assert top_tokens("x", 0, 0) == []


async def test_chat_logprobs_whole_and_streamed(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.chat.completions.create(
        model="fake-model", messages=MESSAGES, logprobs=True, top_logprobs=3
    )
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [e.token for e in logprobs.content] == PIECES
    assert [e.logprob for e in logprobs.content] == [logprob(i) for i in range(8)]
    assert [e.bytes for e in logprobs.content] == [list(p.encode()) for p in PIECES]
    assert all(len(e.top_logprobs) == 3 for e in logprobs.content)
    assert [t.token for t in logprobs.content[1].top_logprobs] == ["moon ", "MOON ", "moon 1"]
    assert [t.logprob for t in logprobs.content[1].top_logprobs] == [-0.26, -1.26, -2.26]

    stream = await sdk.chat.completions.create(
        model="fake-model", messages=MESSAGES, logprobs=True, top_logprobs=3, stream=True
    )
    streamed = [c.choices[0].logprobs async for c in stream if c.choices[0].delta.content]
    assert [s.content for s in streamed if s] == [[e] for e in logprobs.content]


async def test_no_logprobs_unless_asked_and_top_needs_logprobs(sdk: openai.AsyncOpenAI) -> None:
    plain = await sdk.chat.completions.create(model="fake-model", messages=MESSAGES, logprobs=False)
    assert plain.choices[0].logprobs is None
    bare = await sdk.chat.completions.create(model="fake-model", messages=MESSAGES, logprobs=True)
    assert bare.choices[0].logprobs is not None and bare.choices[0].logprobs.content is not None
    assert [e.top_logprobs for e in bare.choices[0].logprobs.content] == [[]] * 8
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="fake-model", messages=MESSAGES, top_logprobs=2)
    assert caught.value.param == "top_logprobs"
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(
            model="fake-model", messages=MESSAGES, logprobs=True, top_logprobs=21
        )
    assert caught.value.param == "top_logprobs"
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.completions.create(model="fake-model", prompt="a", logprobs=6)
    assert caught.value.param == "logprobs"


async def test_completion_logprobs_whole_and_streamed(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.completions.create(model="fake-model", prompt="sun moon", logprobs=2, max_tokens=3)
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens == ["sun ", "moon ", "sun "]
    assert logprobs.token_logprobs == [-0.01, -0.26, -0.51]
    assert logprobs.text_offset == [0, 4, 9]
    assert logprobs.top_logprobs == [
        {"sun ": -0.01, "SUN ": -1.01},
        {"moon ": -0.26, "MOON ": -1.26},
        {"sun ": -0.51, "SUN ": -1.51},
    ]
    stream = await sdk.completions.create(
        model="fake-model", prompt="sun moon", logprobs=2, max_tokens=3, stream=True
    )
    chunks = [c.choices[0].logprobs async for c in stream if c.choices[0].text]
    assert [(c.tokens, c.token_logprobs, c.text_offset) for c in chunks if c] == [
        (["sun "], [-0.01], [0]),
        (["moon "], [-0.26], [4]),
        (["sun "], [-0.51], [9]),
    ]
    assert [c.top_logprobs for c in chunks if c] == [[t] for t in logprobs.top_logprobs]


async def test_two_choices_and_structured_output_carry_logprobs(sdk: openai.AsyncOpenAI) -> None:
    answer = await sdk.chat.completions.create(
        model="fake-model",
        messages=MESSAGES,
        logprobs=True,
        top_logprobs=1,
        n=2,
        response_format={"type": "json_object"},
    )
    expected = plan_answer(
        {"messages": MESSAGES, "response_format": {"type": "json_object"}}, FakeEngineConfig()
    ).pieces
    for choice in answer.choices:
        assert choice.message.content == '{"answer":"sun moon sun moon sun moon sun moon"}'
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert tuple(e.token for e in choice.logprobs.content) == expected


def normalized(data: bytes) -> bytes:
    data = re.sub(rb'"id":"(chatcmpl|cmpl)-[^"]+"', b'"id":"X"', data)
    return re.sub(rb'"created":\d+', b'"created":0', data)


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/chat/completions", {"messages": MESSAGES, "logprobs": True, "top_logprobs": 2, "n": 2}),
        ("/v1/completions", {"prompt": "sun moon", "logprobs": 3, "n": 2}),
    ],
)
async def test_memory_engine_sends_the_same_bytes(
    fake: RunningFakeEngine, path: str, extra: dict[str, Any]
) -> None:
    body = {"model": "fake-model", **extra}
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    memory = MemoryEngine()
    async with EngineClient(fake.base_url) as client:
        over_http = await client.complete(path, body)
        async with await client.stream(path, streamed) as http:
            http_bytes = b"".join([data async for data in http])
    in_memory = await memory.complete(path, body)
    async with await memory.stream(path, streamed) as local:
        local_bytes = b"".join([data async for data in local])
    assert normalized(in_memory.body) == normalized(over_http.body) and b'"logprobs":{' in in_memory.body
    assert normalized(local_bytes) == normalized(http_bytes) and local.usage == http.usage
    with pytest.raises(EngineStatusError) as caught:
        await memory.complete("/v1/chat/completions", {**body, "messages": MESSAGES, "logprobs": "yes"})
    assert caught.value.status == 400 and caught.value.error["param"] == "logprobs"

"""The built-in engine as a real process: `cocoon engine serve` answers the official SDK with usage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from cocoon.engine.builtin import llama_available
from cocoon.engine.model import ModelIdentity
from cocoon.engine.process import EngineProcess, spawn_engine

pytestmark = pytest.mark.slow

if not llama_available():
    pytest.skip(
        "llama-cpp-python is not installed; `make engine` installs it (the default `make test` does)",
        allow_module_level=True,
    )

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
async def builtin() -> AsyncIterator[EngineProcess]:
    engine = await spawn_engine(["serve", "--port", "0", "--n-ctx", "2048"], ready_within=60)
    yield engine
    await engine.stop()


@pytest.fixture
async def sdk(builtin: EngineProcess) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=builtin.base_url, api_key="unused", max_retries=0, timeout=30)
    yield client
    await client.close()


async def test_builtin_engine_answers_with_usage(builtin: EngineProcess, sdk: openai.AsyncOpenAI) -> None:
    identity = ModelIdentity.parse(builtin.model_id)
    assert identity.name.startswith("SmolLM2-135M-Instruct")
    assert [m.id for m in (await sdk.models.list()).data] == [builtin.model_id]

    answer = await sdk.chat.completions.create(model=builtin.model_id, messages=QUESTION, max_tokens=16)
    assert (answer.choices[0].message.content or "").strip()
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 5
    assert 0 < answer.usage.completion_tokens <= 16

    stream = await sdk.chat.completions.create(
        model=builtin.model_id,
        messages=QUESTION,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == answer.usage.prompt_tokens  # same prompt, same count
    assert 0 < chunks[-1].usage.completion_tokens <= 8

"""Fixtures for engine tests: an in-process fake engine on a free port and an OpenAI SDK client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from cocoon.engine.fake import RunningFakeEngine, start_fake_engine
from cocoon.engine.fake_answer import FakeEngineConfig


@pytest.fixture
async def fake() -> AsyncIterator[RunningFakeEngine]:
    """A fake engine with default settings (8 chunks, model ``fake-model``)."""
    engine = await start_fake_engine(FakeEngineConfig())
    yield engine
    await engine.close()


@pytest.fixture
async def sdk(fake: RunningFakeEngine) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official SDK pointed at the fake engine (no retries: a failure must show at once)."""
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="unused", max_retries=0, timeout=10)
    yield client
    await client.close()

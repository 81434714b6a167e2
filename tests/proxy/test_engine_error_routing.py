"""How the proxy routes around engine errors, in one process: three workers whose engines all answer
the same error, behind one proxy and one client, driven by the official `openai` SDK.

A 4xx and a parameter the engine cannot serve reach the app at once from the first engine asked; an
engine failure is retried exactly once on another worker, and the app reads what both engines said.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from inprocess import RecordedEngine, in_process_network

WORKERS = 3


def engine_error(message: str, error_type: str = "internal_server_error") -> dict[str, Any]:
    """An engine's OpenAI-style error body."""
    return {"error": {"message": message, "type": error_type, "param": None}}


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start the network with one engine per worker from ``make_engine``; yields (sdk, engines)."""
    async with AsyncExitStack() as stack:

        async def start(
            make_engine: Callable[[], MemoryEngine], e2e: str = "required"
        ) -> tuple[openai.AsyncOpenAI, list[MemoryEngine]]:
            engines = [make_engine() for _ in range(WORKERS)]
            net = await stack.enter_async_context(
                in_process_network(tmp_path, list(engines), client_settings={"e2e": e2e})
            )
            return net.sdk, engines

        yield start


def ask(sdk: openai.AsyncOpenAI, **extra: Any) -> Any:
    return sdk.chat.completions.create(
        model=FAKE_MODEL, messages=[{"role": "user", "content": "one two"}], max_tokens=4, **extra
    )


def calls(engines: list[MemoryEngine]) -> int:
    return sum(len(engine.calls) for engine in engines)


async def test_an_engine_4xx_reaches_the_app_with_its_status_and_is_not_retried(
    network: Callable[..., Any],
) -> None:
    sdk, engines = await network(lambda: MemoryEngine(FakeEngineConfig(fail_status=422)))
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await ask(sdk)
    assert "fake engine failure (configured status 422)" in caught.value.message
    assert calls(engines) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_parameter_the_engine_cannot_serve_is_a_400_from_the_first_engine_asked(
    network: Callable[..., Any], stream: bool
) -> None:
    message = "logprobs is not supported for models created with logits_all=False"
    sdk, engines = await network(lambda: RecordedEngine(500, engine_error(message)))
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(sdk, logprobs=True, top_logprobs=2, stream=stream)
    error = caught.value
    assert message in error.message and error.code == "unsupported_parameter"
    assert isinstance(error.body, dict) and error.body["param"] == "logprobs"
    assert error.body["type"] == "invalid_request_error"
    assert calls(engines) == 1


@pytest.mark.parametrize("e2e", ["off", "required"])
async def test_an_engine_failure_is_retried_exactly_once_and_says_what_both_engines_said(
    network: Callable[..., Any], e2e: str
) -> None:
    sdk, engines = await network(lambda: RecordedEngine(500, engine_error("llama_decode returned -3")), e2e)
    with pytest.raises(openai.InternalServerError) as caught:
        await ask(sdk)
    error = caught.value
    assert error.status_code == 502 and error.code == "upstream_error"
    assert calls(engines) == 2  # the first engine and one other; never the third
    if e2e == "off":
        assert error.message.count("llama_decode returned -3") == 2
    else:
        # The proxy must be able to retry, so the failure crosses it in plaintext: without the engine's
        # words, which could echo the prompt; what failed, and how, is still said for both workers.
        assert "llama_decode" not in error.message
        assert error.message.count("the engine failed (status 500)") == 2
    assert "retried once elsewhere" in error.message
    asked = [index for index, engine in enumerate(engines) if engine.calls]
    assert len(asked) == 2  # two different workers

"""How the proxy routes around engine errors, in one process: three workers whose engines all answer
the same error, behind one proxy and one client, driven by the official `openai` SDK.

A 4xx and a parameter the engine cannot serve reach the app at once from the first engine asked; an
engine failure is retried exactly once on another worker, and the app reads what both engines said.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from cocoon.client.build import build_client
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.stream import error_from_body
from cocoon.errors import EngineStatusError
from cocoon.proxy.build import build_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker
from waiting import wait_until

WORKERS = 3


class RecordedEngine(MemoryEngine):
    """Answers every inference call with one recorded engine error (status and JSON body)."""

    def __init__(self, status: int, message: str, error_type: str = "internal_server_error") -> None:
        super().__init__()
        self.status = status
        self.raw = json.dumps({"error": {"message": message, "type": error_type, "param": None}}).encode()

    def _refuse(self, path: str, body: dict[str, Any]) -> EngineStatusError:
        self.calls.append((path, body))
        return error_from_body(self.status, self.raw, "http://127.0.0.1:8000")

    async def stream(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        raise self._refuse(path, body)

    async def complete(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        raise self._refuse(path, body)


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start the network with one engine per worker from ``make_engine``; yields (sdk, engines)."""
    async with AsyncExitStack() as stack:
        tasks: list[asyncio.Task[None]] = []

        async def start(
            make_engine: Callable[[], MemoryEngine],
        ) -> tuple[openai.AsyncOpenAI, list[MemoryEngine]]:
            proxy = await stack.enter_async_context(
                build_proxy(
                    ProxyConfig(
                        worker_port=0,
                        client_port=0,
                        http_port=0,
                        data_dir=str(tmp_path / "proxy"),
                        local_client_credit_nano=10**12,
                    )
                )
            )
            nodes: list[Any] = [proxy]
            engines = [make_engine() for _ in range(WORKERS)]
            for index, engine in enumerate(engines):
                config = WorkerConfig(
                    proxies=[f"127.0.0.1:{proxy.service.worker_listener.port}"],
                    http_port=0,
                    data_dir=str(tmp_path / f"worker{index}"),
                )
                nodes.append(await stack.enter_async_context(build_worker(config, WorkerDeps(engine=engine))))
            client_config = ClientConfig(
                proxies=[f"127.0.0.1:{proxy.service.client_listener.port}"],
                http_port=0,
                data_dir=str(tmp_path / "client"),
            )
            client = await stack.enter_async_context(build_client(client_config))
            nodes.append(client)
            tasks.extend(asyncio.create_task(node.run()) for node in nodes)
            await wait_until(
                lambda: len(proxy.service.workers.candidates()) == WORKERS, 20, what="workers up"
            )
            await wait_until(lambda: client.service.connections, 20, what="the client connected")
            sdk = openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{client.http_port}/v1", api_key="unused", max_retries=0
            )
            stack.push_async_callback(sdk.close)
            return sdk, engines

        try:
            yield start
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


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
    sdk, engines = await network(lambda: RecordedEngine(500, message))
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(sdk, logprobs=True, top_logprobs=2, stream=stream)
    error = caught.value
    assert message in error.message and error.code == "unsupported_parameter"
    assert isinstance(error.body, dict) and error.body["param"] == "logprobs"
    assert error.body["type"] == "invalid_request_error"
    assert calls(engines) == 1


async def test_an_engine_failure_is_retried_exactly_once_and_says_what_both_engines_said(
    network: Callable[..., Any],
) -> None:
    sdk, engines = await network(lambda: RecordedEngine(500, "llama_decode returned -3"))
    with pytest.raises(openai.InternalServerError) as caught:
        await ask(sdk)
    error = caught.value
    assert error.status_code == 502 and error.code == "upstream_error"
    assert calls(engines) == 2  # the first engine and one other; never the third
    assert error.message.count("llama_decode returned -3") == 2
    assert "retried once elsewhere" in error.message
    asked = [index for index, engine in enumerate(engines) if engine.calls]
    assert len(asked) == 2  # two different workers

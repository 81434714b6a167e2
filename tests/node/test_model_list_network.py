"""`GET /v1/models` through the official SDK on an in-process network: context length, endpoints and
per-worker prices reach the app as extra fields of an otherwise ordinary OpenAI model list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from cocoon.client.build import build_client
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.node.running import RunningNode
from cocoon.proxy.build import build_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker
from waiting import wait_until


@pytest.fixture
async def client_port(tmp_path: Path) -> AsyncIterator[int]:
    async with AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(
            build_proxy(
                ProxyConfig(
                    worker_port=0,
                    client_port=0,
                    http_port=0,
                    data_dir=str(tmp_path / "proxy"),
                    local_client_credit_nano=10**12,
                    price_per_token=20,
                    worker_fee_per_token=19,
                )
            )
        )
        nodes: list[RunningNode[object]] = [proxy]
        for i, (coefficient, context) in enumerate([(1000, 4096), (1500, 2048)]):
            config = WorkerConfig(
                proxies=[f"127.0.0.1:{proxy.service.worker_listener.port}"],
                http_port=0,
                data_dir=str(tmp_path / f"worker{i}"),
                coefficient=coefficient,
            )
            engine = MemoryEngine(FakeEngineConfig(context_length=context))
            nodes.append(await stack.enter_async_context(build_worker(config, WorkerDeps(engine=engine))))
        client_config = ClientConfig(
            proxies=[f"127.0.0.1:{proxy.service.client_listener.port}"],
            http_port=0,
            data_dir=str(tmp_path / "client"),
        )
        client = await stack.enter_async_context(build_client(client_config))
        nodes.append(client)
        tasks = [asyncio.create_task(node.run()) for node in nodes]
        try:
            await wait_until(lambda: len(proxy.service.workers.candidates()) == 2, 20, what="both workers")
            await wait_until(lambda: client.service.connections, 20, what="the client connected")  # type: ignore[attr-defined]
            yield client.http_port
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_models_list_shows_context_endpoints_and_prices(client_port: int) -> None:
    async with AsyncOpenAI(base_url=f"http://127.0.0.1:{client_port}/v1", api_key="unused") as api:
        page = await api.models.list()
    (model,) = page.data
    assert (model.id, model.object, model.owned_by) == (FAKE_MODEL, "model", "cocoon")
    extra = model.model_extra or {}
    assert extra["context_length"] == 2048  # the shorter of the two workers' engines
    both = ["/v1/chat/completions", "/v1/completions"]
    assert extra["endpoints"] == both
    assert all(len(extra["endpoint_workers"][path]) == 2 for path in both)
    assert extra["price_unit_tokens"] == 1_000_000
    workers = sorted(extra["workers"], key=lambda w: w["coefficient"])
    assert [(w["coefficient"], w["context_length"], w["endpoints"]) for w in workers] == [
        (1000, 4096, both),
        (1500, 2048, both),
    ]
    # price_per_token 20 nanoTON x coefficient / 1000, multipliers 1.0x: per million tokens
    assert [w["price_nano_per_million_tokens"] for w in workers] == [
        {"prompt": 20_000_000, "completion": 20_000_000},
        {"prompt": 30_000_000, "completion": 30_000_000},
    ]

"""The three composition roots build a working network in one process: the same functions that
`cocoon worker|proxy|client run` call, with the in-memory engine as the only fake."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from openai import AsyncOpenAI

from cocoon.client.build import build_client
from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import ConfigError
from cocoon.node.running import RunningNode
from cocoon.proxy.build import build_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker
from waiting import wait_until

SRC = Path(__file__).resolve().parents[2] / "src" / "cocoon"


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[dict[str, RunningNode[object]]]:
    engine = MemoryEngine(FakeEngineConfig(chunks=3))
    async with AsyncExitStack() as stack:
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
        worker_config = WorkerConfig(
            proxies=[f"127.0.0.1:{proxy.service.worker_listener.port}"],
            http_port=0,
            data_dir=str(tmp_path / "worker"),
        )
        worker = await stack.enter_async_context(build_worker(worker_config, WorkerDeps(engine=engine)))
        client_config = ClientConfig(
            proxies=[f"127.0.0.1:{proxy.service.client_listener.port}"],
            http_port=0,
            data_dir=str(tmp_path / "client"),
        )
        client = await stack.enter_async_context(build_client(client_config))
        tasks = [asyncio.create_task(node.run()) for node in (proxy, worker, client)]
        try:
            yield {"proxy": proxy, "worker": worker, "client": client}
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_built_roles_answer_through_the_openai_sdk(network: dict[str, RunningNode[object]]) -> None:
    proxy, worker, client = network["proxy"], network["worker"], network["client"]
    await wait_until(lambda: proxy.service.workers.candidates(), 20, what="the worker registered")  # type: ignore[attr-defined]
    await wait_until(lambda: client.service.connections, 20, what="the client connected")  # type: ignore[attr-defined]
    api = AsyncOpenAI(base_url=f"http://127.0.0.1:{client.http_port}/v1", api_key="unused")
    answer = await api.chat.completions.create(
        model=FakeEngineConfig().model, messages=[{"role": "user", "content": "one two three"}]
    )
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    cost = answer.usage.model_extra["total_cost"]  # type: ignore[index]
    assert cost > 0
    await api.close()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{worker.http_port}/jsonstats") as resp:
            stats = await resp.json()
        assert stats["requests"]["served"] == 1
        async with http.get(f"http://127.0.0.1:{proxy.http_port}/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["workers"] == 1


async def test_a_second_proxy_on_a_taken_port_says_so(tmp_path: Path) -> None:
    config = ProxyConfig(worker_port=0, client_port=0, http_port=0, data_dir=str(tmp_path / "a"))
    async with build_proxy(config) as first:
        taken = ProxyConfig(
            worker_port=0, client_port=0, http_port=first.http_port, data_dir=str(tmp_path / "b")
        )
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.http_port}"):
            async with build_proxy(taken):
                pass
        # The failed build closed its listeners: the first proxy still serves.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{first.http_port}/healthz") as resp,
        ):
            assert resp.status == 200


@pytest.mark.parametrize("role", ["worker", "proxy", "client"])
def test_cli_role_modules_hold_no_wiring(role: str) -> None:
    """`cli/<role>.py` parses flags and hands the config to the role's builder: no coroutine of its
    own, so every collaborator is made in `<role>/build.py`."""
    tree = ast.parse((SRC / "cli" / f"{role}.py").read_text())
    coroutines = [node.name for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)]
    assert coroutines == []
    source = (SRC / "cli" / f"{role}.py").read_text()
    assert f"build_{role}(config)" in source

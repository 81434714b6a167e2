"""A whole network in one process, built by the roles' own composition roots, for service tests.

`in_process_network` starts one proxy, one worker per engine given (engines are in-memory fakes
behind the `Engine` protocol) and one client daemon, all on port 0, waits until every worker is
registered and the client is connected, and yields them with an `openai.AsyncOpenAI` pointed at the
client. `RecordedEngine` answers every call with one engine error body, as an engine sends it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import openai

from cocoon.client.build import build_client
from cocoon.client.network import ProxyPool
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.protocol import Engine
from cocoon.engine.stream import error_from_body
from cocoon.errors import EngineStatusError
from cocoon.node.running import RunningNode
from cocoon.proxy.build import build_proxy
from cocoon.proxy.service import ProxyService
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker
from cocoon.worker.service import WorkerService
from waiting import wait_until


@dataclass
class InProcessNet:
    proxy: RunningNode[ProxyService]
    workers: list[RunningNode[WorkerService]]
    client: RunningNode[ProxyPool]
    sdk: openai.AsyncOpenAI


@asynccontextmanager
async def in_process_network(
    tmp_path: Path,
    engines: list[Engine],
    *,
    worker_settings: Sequence[dict[str, Any]] = (),
    client_settings: dict[str, Any] | None = None,
    proxy_settings: dict[str, Any] | None = None,
    cocoon: bool = False,
    wait_connected: bool = True,
) -> AsyncIterator[InProcessNet]:
    """A running proxy, a worker per engine and a client (see the module docstring); the worker of
    ``engines[i]`` also takes the config keys of ``worker_settings[i]`` when given, the client those
    of ``client_settings``, the proxy those of ``proxy_settings``. With ``cocoon`` the client dials
    the proxy's COCOON port only (COCOON's protocol, ``cocoon_proxies``); with ``wait_connected``
    false it is not waited for (a test of a refused connection waits for what it expects)."""
    async with AsyncExitStack() as stack:
        proxy_config = ProxyConfig(
            worker_port=0,
            client_port=0,
            http_port=0,
            data_dir=str(tmp_path / "proxy"),
            local_client_credit_nano=10**12,
        )
        proxy_config = msgspec.structs.replace(proxy_config, **(proxy_settings or {}))
        proxy = await stack.enter_async_context(build_proxy(proxy_config))
        workers = []
        for index, engine in enumerate(engines):
            config = WorkerConfig(
                proxies=[f"127.0.0.1:{proxy.service.worker_listener.port}"],
                http_port=0,
                data_dir=str(tmp_path / f"worker{index}"),
            )
            if index < len(worker_settings):
                config = msgspec.structs.replace(config, **worker_settings[index])
            workers.append(await stack.enter_async_context(build_worker(config, WorkerDeps(engine=engine))))
        service = proxy.service
        if cocoon:
            assert service.cocoon_port is not None, "the proxy's COCOON port is off"
            dial: dict[str, Any] = {
                "proxies": [],
                "cocoon_proxies": [f"127.0.0.1:{service.cocoon_port.port}"],
            }
        else:
            dial = {"proxies": [f"127.0.0.1:{service.client_listener.port}"]}
        client_config = ClientConfig(**dial, http_port=0, data_dir=str(tmp_path / "client"))
        client_config = msgspec.structs.replace(client_config, **(client_settings or {}))
        client = await stack.enter_async_context(build_client(client_config))
        tasks = [asyncio.create_task(node.run()) for node in (proxy, *workers, client)]
        try:
            await wait_until(
                lambda: len(proxy.service.workers.candidates()) == len(engines), 20, what="workers up"
            )
            pool = client.service
            connected = (
                (lambda: pool.cocoon is not None and pool.cocoon.links)
                if cocoon
                else (lambda: pool.connections)
            )
            if wait_connected:
                await wait_until(connected, 20, what="the client connected")
            sdk = openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{client.http_port}/v1", api_key="unused", max_retries=0
            )
            async with sdk:
                yield InProcessNet(proxy, workers, client, sdk)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class RecordedEngine(MemoryEngine):
    """Answers every inference call with one recorded engine error (status and JSON body, as sent)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__()
        self.status, self.raw = status, json.dumps(body).encode()

    def _refuse(self, path: str, body: dict[str, Any]) -> EngineStatusError:
        self.calls.append((path, body))
        return error_from_body(self.status, self.raw, "http://127.0.0.1:8000")

    async def stream(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        raise self._refuse(path, body)

    async def complete(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        raise self._refuse(path, body)

"""Two proxies, each with its own workers, and one client daemon dialling both, in one process.

Built like `inprocess.in_process_network` by the roles' own composition roots, all on port 0; yields
a `TwoProxies` with the official `openai` SDK pointed at the client. `HeldEngine` is a fake engine
that keeps every call waiting before its answer begins (no head sent) until released.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from cocoon.client.build import build_client
from cocoon.client.network import ProxyPool
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.protocol import Engine
from cocoon.node.running import RunningNode
from cocoon.proxy.build import build_proxy
from cocoon.proxy.service import ProxyService
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker
from waiting import wait_until


@dataclass
class TwoProxies:
    proxies: dict[str, RunningNode[ProxyService]]
    """By name ("A", "B")."""
    addresses: dict[str, str]
    """The address the client dials each proxy at, by name."""
    client: RunningNode[ProxyPool]
    sdk: openai.AsyncOpenAI

    def name_of(self, proxy_id: str) -> str:
        """The name of the proxy whose id an answer's ``x-cocoon-proxy`` names."""
        [name] = [n for n, p in self.proxies.items() if p.service.proxy_id == proxy_id]
        return name

    def charged_nano(self, name: str) -> int:
        """What proxy ``name``'s ledger charged the client (its only client)."""
        return sum(account.charged_nano for account in self.proxies[name].service.ledger.clients())

    async def stop(self, name: str) -> None:
        """Proxy ``name`` goes down for its clients: its client port closes, with every connection."""
        await self.proxies[name].service.client_listener.aclose(grace=0)


@asynccontextmanager
async def two_proxies(
    tmp_path: Path, engines: dict[str, list[Engine]], *, client_settings: dict[str, Any] | None = None
) -> AsyncIterator[TwoProxies]:
    """Proxies named by ``engines``' keys, each with a worker per engine of its list, and a client."""
    async with AsyncExitStack() as stack:
        proxies: dict[str, RunningNode[ProxyService]] = {}
        nodes: list[RunningNode[Any]] = []
        for name, its_engines in engines.items():
            config = ProxyConfig(
                worker_port=0,
                client_port=0,
                http_port=0,
                data_dir=str(tmp_path / f"proxy{name}"),
                local_client_credit_nano=10**12,
            )
            proxy = proxies[name] = await stack.enter_async_context(build_proxy(config))
            nodes.append(proxy)
            for index, engine in enumerate(its_engines):
                worker_config = WorkerConfig(
                    proxies=[f"127.0.0.1:{proxy.service.worker_listener.port}"],
                    http_port=0,
                    data_dir=str(tmp_path / f"worker{name}{index}"),
                )
                deps = WorkerDeps(engine=engine)
                nodes.append(await stack.enter_async_context(build_worker(worker_config, deps)))
        addresses = {n: f"127.0.0.1:{p.service.client_listener.port}" for n, p in proxies.items()}
        settings = {"proxies": list(addresses.values()), "http_port": 0, "data_dir": str(tmp_path / "client")}
        client = await stack.enter_async_context(
            build_client(ClientConfig(**(settings | (client_settings or {}))))
        )
        tasks = [asyncio.create_task(node.run()) for node in (*nodes, client)]
        try:
            for name, proxy in proxies.items():
                count = len(engines[name])
                await wait_until(
                    lambda p=proxy, n=count: len(p.service.workers.candidates()) == n, 20, what="workers up"
                )
            await wait_until(lambda: len(client.service.connections) == len(proxies), 20, what="connected")
            sdk = openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{client.http_port}/v1", api_key="unused", max_retries=0
            )
            async with sdk:
                yield TwoProxies(proxies, addresses, client, sdk)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class HeldEngine(MemoryEngine):
    """A `MemoryEngine` whose calls wait for `release` before answering: nothing of the answer (not
    even its head) leaves the worker until then; `held` counts the calls waiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()
        self.held = 0

    async def _hold(self) -> None:
        self.held += 1
        try:
            await self.release.wait()
        finally:
            self.held -= 1

    async def stream(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        await self._hold()
        return await super().stream(path, body, timeout_s=timeout_s)

    async def complete(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        await self._hold()
        return await super().complete(path, body, timeout_s=timeout_s)

"""Our client daemon with ``cocoon_proxies`` pointed at our own proxy's COCOON port (no chain).

The roles are built by their composition roots (proxy with its COCOON port at a low PoW difficulty and
off-chain credit, a worker on the in-memory fake engine, the client daemon with ``proxies = []``); the
official ``openai`` SDK asks a chat completion whole and streamed. The proxy's ledger must have
charged exactly the adjusted tokens the app is shown (``tokensUsed``; without a chain the client does
not know the price per token, so the nanoTON cost fields stay what the answer says). With a proxy
policy set, the proxy's RA-TLS certificate is verified: ``fake`` accepts our proxy's development
quote, ``tdx`` refuses it and says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import openai

from cocoon.client.build import build_client
from cocoon.client.network import ProxyPool
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.engine.memory import MemoryEngine
from cocoon.node.running import RunningNode
from cocoon.proxy.build import build_proxy
from cocoon.proxy.service import ProxyService
from cocoon.roles import ClientConfig, PolicyName, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker
from waiting import wait_until

PROMPT = [{"role": "user", "content": "tell me a short story about moths"}]


@dataclass
class Net:
    proxy: RunningNode[ProxyService]
    client: RunningNode[ProxyPool]
    sdk: openai.AsyncOpenAI

    def charged_tokens(self) -> int:
        return self.proxy.service.ledger.client(self.client.service.client_id).charged_tokens


@asynccontextmanager
async def cocoon_network(
    tmp_path: Path, policy: PolicyName = "any", *, connected: bool = True
) -> AsyncIterator[Net]:
    async with AsyncExitStack() as stack:
        proxy_config = ProxyConfig(
            worker_port=0,
            client_port=0,
            http_port=0,
            cocoon_pow_difficulty=4,
            data_dir=str(tmp_path / "proxy"),
            local_client_credit_nano=10**12,
        )
        proxy = await stack.enter_async_context(build_proxy(proxy_config))
        assert proxy.service.cocoon_port is not None
        worker_config = WorkerConfig(
            proxies=[f"127.0.0.1:{proxy.service.worker_listener.port}"],
            http_port=0,
            data_dir=str(tmp_path / "w"),
        )
        worker = await stack.enter_async_context(
            build_worker(worker_config, WorkerDeps(engine=MemoryEngine()))
        )
        client_config = ClientConfig(
            proxies=[],
            cocoon_proxies=[f"127.0.0.1:{proxy.service.cocoon_port.port}"],
            cocoon_proxy_policy=policy,
            e2e="off",
            http_port=0,
            data_dir=str(tmp_path / "client"),
        )
        client = await stack.enter_async_context(build_client(client_config))
        tasks = [asyncio.create_task(node.run()) for node in (proxy, worker, client)]
        try:
            await wait_until(lambda: len(proxy.service.workers.candidates()) == 1, 20, what="the worker up")
            pool = client.service
            assert pool.cocoon is not None
            cocoon = pool.cocoon
            done = (lambda: cocoon.links) if connected else (lambda: cocoon.last_error)
            await wait_until(done, 20, what="the client connected" if connected else "a refusal")
            sdk = openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{client.http_port}/v1", api_key="-", max_retries=0
            )
            async with sdk:
                yield Net(proxy, client, sdk)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_whole_and_streamed_answers_through_our_cocoon_port_are_charged_exactly(tmp_path: Path) -> None:
    async with cocoon_network(tmp_path) as net:
        [model] = (await net.sdk.models.list()).data
        assert model.id == FAKE_MODEL
        whole = await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=PROMPT)  # type: ignore[arg-type]
        assert whole.choices[0].message.content
        usage = whole.usage.model_extra  # type: ignore[union-attr]
        assert usage is not None
        charged = net.charged_tokens()
        assert usage["adjusted_tokens"] == charged > 0

        stream = await net.sdk.chat.completions.create(
            model=FAKE_MODEL,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, last = [], None
        async for chunk in stream:
            pieces += [c.delta.content or "" for c in chunk.choices]
            last = chunk.usage or last
        assert "".join(pieces) == whole.choices[0].message.content
        assert last is not None and last.model_extra is not None
        assert last.model_extra["adjusted_tokens"] == net.charged_tokens() - charged > 0
        [entry] = (await net.client.service.status())["proxies"].values()
        assert (entry["protocol"], entry["auth"], entry["requests"]) == ("cocoon", "short", 2)


async def test_the_proxys_attestation_is_checked_when_a_policy_is_set(tmp_path: Path) -> None:
    async with cocoon_network(tmp_path / "fake", "fake") as net:
        [entry] = (await net.client.service.status())["proxies"].values()
        assert "policy fake" in entry["attestation"]
        assert (await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=PROMPT)).choices  # type: ignore[arg-type]
    async with cocoon_network(tmp_path / "tdx", "tdx", connected=False) as net:
        pool = net.client.service
        assert pool.cocoon is not None and not pool.cocoon.links
        [why] = pool.cocoon.last_error.values()
        assert why.startswith("cannot connect") and "tdx" in why.lower()

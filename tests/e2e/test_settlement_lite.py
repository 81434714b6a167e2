"""The settlement cycle of ``test_settlement`` with every node on ``LiteChain`` (``chain = "lite"``):
the proxy, a worker and a client (in one process) talk to liteserver answers made from the local chain
(:mod:`litelocal`: pytoniq-core objects from the chain's real BoCs). The same assertions: requests are
paid from the client contract exactly, the worker's and proxy's owners receive exactly their shares,
and a closing client gets back exactly its remaining balance."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp.test_utils import TestServer
from litelocal import LocalLiteServer
from test_settlement import NEVER, PRICE, WORKER_FEE

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.chainsvc.lite import LiteChain
from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.client.build import build_client
from cocoon.clock import SYSTEM_CLOCK
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.engine.memory import MemoryEngine
from cocoon.localnet.chain import ChainPlan, default_funding, node_wallet_key, prepare_chain
from cocoon.node.running import NodeDeps, RunningNode
from cocoon.payments.params import Nano
from cocoon.proxy.build import build_proxy
from cocoon.registry import local_params
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData, ProxyData, ProxyEndpoints, WorkerData
from cocoon.ton.ops import Op
from cocoon.worker.build import WorkerDeps, build_worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiteNet:
    chain: AsyncLocalChain
    """The same local chain, read directly for the assertions."""
    lites: list[LiteChain]
    http: aiohttp.ClientSession
    proxy_url: str
    worker_url: str
    client_url: str
    data_dir: Path
    """Where each node's data dir is (``<data_dir>/<node>``, its admin token in it)."""

    async def get(self, url: str) -> Any:
        async with self.http.get(url) as resp:
            return await resp.json()

    async def post(self, url: str, node: str) -> Any:
        """POST to an admin endpoint of ``node`` ("proxy", "client"...), with its admin token."""
        token = (self.data_dir / node / "admin.token").read_text().strip()
        async with self.http.post(url, json={}, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def data(self, address: str) -> Any:
        state = await self.chain.get_account(Address.parse(address))
        assert state.data is not None, f"{address} is not deployed"
        return state.data

    async def payouts(self, wallet: str, source: str) -> int:
        src = Address.parse(source)
        txs = await self.chain.get_transactions(Address.parse(wallet), limit=10_000)
        return sum(
            tx.in_msg.value
            for tx in txs
            if tx.in_msg is not None and tx.in_msg.src == src and tx.in_msg.op == Op.PAYOUT
        )


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[LiteNet]:
    local = LocalChain(None, now=int(SYSTEM_CLOCK.time()))
    api = TestServer(create_app(local, wall_clock=SYSTEM_CLOCK), host="127.0.0.1", port=0)
    await api.start_server()
    worker_port, client_port = free_port(), free_port()
    plan = ChainPlan(
        url=str(api.make_url("")).rstrip("/"),
        data_dir=tmp_path,
        funding=default_funding(["proxy", "worker-1", "client"], 100),
        proxy=ProxyEndpoints(f"127.0.0.1:{worker_port}", f"127.0.0.1:{client_port}"),
        image_hash=FAKE_IMAGE_HASH,
        params=local_params(),
    )
    await prepare_chain(plan, [FAKE_MODEL])
    lites: list[LiteChain] = []

    def on_lite(node: str) -> dict[str, Any]:
        lites.append(LiteChain(LocalLiteServer(local, SYSTEM_CLOCK)))
        # deps.chain replaces the liteservers ton_config names: this double answers in their place
        return {
            "chain": "lite",
            "ton_config": str(tmp_path / "global.config.json"),
            "root_address": plan.root.raw,
            "wallet_key": str(node_wallet_key(tmp_path, node)),
            "wallet_poll_interval_s": 0.05,
            "data_dir": str(tmp_path / node),
            "http_port": 0,
        }

    async with AsyncExitStack() as stack:
        proxy_config = ProxyConfig(
            worker_port=worker_port,
            client_port=client_port,
            cocoon_port=-1,
            commit_interval_s=1,
            settle_interval_s=1,
            chain_poll_interval_s=0.5,
            charge_threshold_nano=Nano(int(NEVER)),
            payout_threshold_nano=Nano(int(NEVER)),
            withdraw_threshold_nano=Nano(int(NEVER)),
            **on_lite("proxy"),
        )
        proxy = await stack.enter_async_context(build_proxy(proxy_config, NodeDeps(chain=lites[-1])))
        worker_config = WorkerConfig(**on_lite("worker-1"))
        worker_deps = WorkerDeps(chain=lites[-1], engine=MemoryEngine())
        worker = await stack.enter_async_context(build_worker(worker_config, worker_deps))
        client_config = ClientConfig(payments_interval_s=2.0, **on_lite("client"))
        client = await stack.enter_async_context(build_client(client_config, NodeDeps(chain=lites[-1])))
        nodes: list[RunningNode[Any]] = [proxy, worker, client]
        tasks = [asyncio.create_task(node.run()) for node in nodes]
        try:
            async with aiohttp.ClientSession() as http:
                urls = [f"http://127.0.0.1:{node.http_port}" for node in nodes]
                yield LiteNet(AsyncLocalChain(local), lites, http, *urls, data_dir=tmp_path)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    await api.close()


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Return once ``await condition()`` is true; fail the test after ``timeout_s`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() >= deadline:
            raise TimeoutError(f"not true within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)


async def test_a_settlement_cycle_through_lite_chain(net: LiteNet) -> None:
    models: list[Any] = []

    async def serving() -> bool:
        models[:] = (await net.get(f"{net.client_url}/v1/models"))["data"]
        return bool(models and models[0]["workers"])

    await until(serving, 30, "the worker serves the client")
    model = models[0]["id"]

    chain_stats = (await net.get(f"{net.proxy_url}/jsonstats"))["chain"]
    proxy, proxy_wallet = chain_stats["proxy_contract"], chain_stats["wallet"]
    pay = await net.get(f"{net.client_url}/payments")
    client, client_wallet = pay["channels"][proxy]["contract"], pay["wallet"]
    worker_wallet = (await net.get(f"{net.worker_url}/jsonstats"))["payouts"]["wallet"]

    before = ClientData.from_cell(await net.data(client))
    assert before.state == 0 and before.tokens_used == 0
    sdk = openai.AsyncOpenAI(base_url=f"{net.client_url}/v1", api_key="unused", max_retries=0, timeout=60)
    usages = []
    async with sdk:
        for i in range(8):
            answer = await sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"question number {i}"}], max_tokens=20
            )
            assert answer.usage is not None
            usages.append(answer.usage.model_extra or {})
    tokens = sum(u["adjusted_tokens"] for u in usages)
    cost = sum(u["total_cost"] for u in usages)
    assert tokens > 0 and cost == tokens * PRICE

    await net.post(f"{net.proxy_url}/request/charge", "proxy")
    after = ClientData.from_cell(await net.data(client))
    assert after.tokens_used == tokens
    assert before.balance - after.balance == cost  # the client contract was charged exactly the costs
    worker_stats = (await net.get(f"{net.worker_url}/jsonstats"))["payouts"]
    worker_contract = worker_stats["channels"][proxy]["contract"]
    assert WorkerData.from_cell(await net.data(worker_contract)).tokens == tokens
    assert await net.payouts(worker_wallet, proxy) == tokens * WORKER_FEE
    assert await net.payouts(proxy_wallet, proxy) == tokens * (PRICE - WORKER_FEE)  # the commission
    assert ProxyData.from_cell(await net.data(proxy)).balance == 0

    await net.post(f"{net.client_url}/payments/close", "client")

    async def closed_on_chain() -> bool:
        return bool(ClientData.from_cell(await net.data(client)).state == 2)

    await until(closed_on_chain, 30, "the client contract closes")
    closed = ClientData.from_cell(await net.data(client))
    assert await net.payouts(client_wallet, proxy) == after.balance  # exactly the remaining balance
    assert (closed.balance, closed.tokens_used) == (0, tokens)
    # every node's chain requests went through LiteChain, counted by method
    for lite in net.lites:
        assert lite.requests.by_method["raw_get_account_state"] > 0
    assert net.lites[0].requests.by_method["get_transactions"] > 0  # the proxy followed its contract

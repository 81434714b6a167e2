"""Leaving a proxy on a whole network in one process, every node built by its own composition root on
the in-process local chain (our FunC contracts on the TON emulator).

A proxy contract that starts closing: the worker submits its signed payout at once (paid exactly
what it served) and stops serving that proxy. A root params change: the worker and the client notice
the new ``params_version`` in the root, say why, close their proxy connections, the worker submits its
signed payout on its old contract, and once the proxy runs under the new params they deploy new
contracts and a request is charged at the new price; the old client contract's balance comes back to
the client's wallet exactly (the client's own refund path, chain time advanced)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest
from test_onchain import FaucetSender, addr

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.client.build import build_client
from cocoon.client.network import ProxyPool
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.engine.memory import MemoryEngine
from cocoon.node.keys import node_seed, wallet_key_path
from cocoon.node.running import NodeDeps, RunningNode
from cocoon.proxy.build import build_proxy
from cocoon.proxy.service import ProxyService
from cocoon.registry.owner import RootOwner, local_params, register_proxy, set_fees, unregister_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData, ProxyEndpoints, WorkerData
from cocoon.ton.ops import TON, Op
from cocoon.ton.signed import sign_request
from cocoon.wallet import load_or_create_key_file
from cocoon.worker.build import WorkerDeps, build_worker
from cocoon.worker.service import WorkerService
from waiting import wait_until

PRICE, FEE, NEW_PRICE, NEW_FEE = 20, 19, 31, 29
NEVER = 10**15  # thresholds no test reaches: money moves only when forced or when leaving
CHAIN = "http://chain.invalid"  # any non-empty chain_url: the in-process chain replaces it


class Net:
    def __init__(self, tmp_path: Path, stack: AsyncExitStack) -> None:
        self.tmp_path, self.stack = tmp_path, stack
        self.local = LocalChain(None, now=int(time.time()))
        self.chain = AsyncLocalChain(self.local)
        self.deps = NodeDeps(chain=self.chain)
        self.tasks: list[asyncio.Task[None]] = []
        self.owner: RootOwner

    async def fund(self, node: str) -> str:
        data_dir = self.tmp_path / node
        key = load_or_create_key_file(wallet_key_path(data_dir))
        await self.chain.fund(key.address, 50 * TON)
        return str(data_dir)

    async def proxy(self, name: str) -> RunningNode[ProxyService]:
        config = ProxyConfig(
            worker_port=0,
            client_port=0,
            http_port=0,
            data_dir=await self.fund(name),
            chain_url=CHAIN,
            root_address=self.owner.root.raw,
            commit_interval_s=0.5,
            settle_interval_s=0.5,
            flush_interval_s=0.2,
            charge_threshold_nano=NEVER,
            payout_threshold_nano=NEVER,
            withdraw_threshold_nano=NEVER,
        )
        running = await self.stack.enter_async_context(build_proxy(config, self.deps))
        self.tasks.append(asyncio.create_task(running.run()))
        return running

    async def register(self, proxy: RunningNode[ProxyService]) -> None:
        service = proxy.service
        endpoints = ProxyEndpoints(
            f"127.0.0.1:{service.worker_listener.port}", f"127.0.0.1:{service.client_listener.port}"
        )
        await self.owner.apply([register_proxy(endpoints)])

    def payouts_to(self, wallet: str, source: Address) -> int:
        """nanoTON ``source`` paid to ``wallet`` with ``payout`` messages."""
        txs = [tx for tx in self.local.transactions(Address.parse(wallet), limit=10_000)]
        return sum(
            tx.in_msg.value
            for tx in txs
            if tx.in_msg is not None and tx.in_msg.src == source and tx.in_msg.op == Op.PAYOUT
        )

    def data(self, address: str) -> Any:
        state = self.local.account(Address.parse(address))
        assert state.data is not None
        return state.data


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    async with AsyncExitStack() as stack:
        n = Net(tmp_path, stack)
        n.owner = await RootOwner.deploy(n.chain, FaucetSender(n.local, addr("root-owner")), local_params())
        try:
            yield n
        finally:
            for task in n.tasks:
                task.cancel()
            await asyncio.gather(*n.tasks, return_exceptions=True)


async def ask(port: int) -> dict[str, Any]:
    async with openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=30
    ) as api:
        answer = await api.chat.completions.create(
            model=FAKE_MODEL, messages=[{"role": "user", "content": "hello there"}], max_tokens=16
        )
    assert answer.usage is not None
    return answer.usage.model_extra or {}


Nodes = tuple[RunningNode[ProxyService], RunningNode[WorkerService], RunningNode[ProxyPool]]


async def start(net: Net) -> Nodes:
    """A proxy registered in the root, a worker and a client it lists, connected."""
    proxy = await net.proxy("proxy")
    await net.register(proxy)
    common: dict[str, Any] = {
        "chain_url": CHAIN,
        "root_address": net.owner.root.raw,
        "http_port": 0,
        "root_poll_interval_s": 0.5,
    }
    worker_config = WorkerConfig(
        data_dir=await net.fund("worker"),
        cash_out_threshold_nano=NEVER,
        idle_cash_out_threshold_nano=NEVER,
        proxy_watch_interval_s=0.5,
        **common,
    )
    worker: RunningNode[WorkerService] = await net.stack.enter_async_context(
        build_worker(worker_config, WorkerDeps(engine=MemoryEngine(), chain=net.chain))
    )
    client: RunningNode[ProxyPool] = await net.stack.enter_async_context(
        build_client(ClientConfig(data_dir=await net.fund("client"), **common), net.deps)
    )
    net.tasks += [asyncio.create_task(node.run()) for node in (worker, client)]
    await wait_until(lambda: len(proxy.service.workers.candidates()) == 1, 30, what="worker registered")
    await wait_until(lambda: client.service.connections, 30, what="client connected")
    return proxy, worker, client


async def test_a_worker_whose_proxy_closes_is_paid_what_it_served_and_leaves_it(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy, worker, client = await start(net)
    payouts = worker.service.payouts
    settlement = proxy.service.chain
    assert payouts is not None and settlement is not None
    contract = settlement.contract
    served = sum([(await ask(client.http_port))["adjusted_tokens"] for _ in range(3)])
    # the proxy commits on its own (every 0.5 s) but pays nobody: the thresholds are never reached
    await wait_until(lambda: payouts.channels[contract.raw].signed_tokens == served, 20, what="signed")
    assert net.payouts_to(payouts.owner.raw, contract) == 0

    # the proxy's contract starts closing (the proxy key's signed close request, as at `proxy close`)
    seed = node_seed(str(net.tmp_path / "proxy"))
    close = sign_request(seed, Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, query_id=5, target=contract)
    net.local.send_internal(addr("anyone"), contract, TON // 2, close.to_cell())
    await wait_until(lambda: not enabled(proxy), 20, what="the worker disabled its offer")
    address = f"127.0.0.1:{proxy.service.worker_listener.port}"
    assert payouts.gives_up(address) and "is closing" in payouts.disabled[address]
    await wait_until(lambda: payouts.channels[contract.raw].paid_tokens == served, 20, what="payout")
    assert net.payouts_to(payouts.owner.raw, contract) == served * FEE  # exactly what it served
    assert "submitting its latest signed payout" in caplog.text
    with pytest.raises(openai.APIStatusError):
        await ask(client.http_port)  # the worker takes no more requests from this proxy
    assert address in worker.service.connections  # still connected, for the proxy's last payout

    # the proxy's close completes after proxy_delay_before_close: the worker closes the connection
    await net.chain.advance_time(600)
    done = sign_request(seed, Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED, query_id=6, target=contract)
    net.local.send_internal(addr("anyone"), contract, TON // 2, done.to_cell())
    await wait_until(lambda: not worker.service.connections, 20, what="connection closed")
    await asyncio.sleep(0.5)
    assert not worker.service.connections and not proxy.service.workers.candidates()  # never back
    assert net.payouts_to(payouts.owner.raw, contract) == served * FEE


def enabled(proxy: RunningNode[ProxyService]) -> bool:
    """Whether the proxy has a worker whose offer is enabled."""
    return any(c.enabled for c in proxy.service.workers.candidates())


async def test_a_root_params_change_moves_client_and_worker_to_new_contracts(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy, worker, client = await start(net)

    first = await ask(client.http_port)
    tokens1 = first["adjusted_tokens"]
    assert tokens1 > 0 and first["total_cost"] == tokens1 * PRICE
    settlement = proxy.service.chain
    assert settlement is not None
    await settlement.force()  # the client is charged on chain, the worker paid, for the first request
    payouts, payments = worker.service.payouts, client.service.payments
    assert payouts is not None and payments is not None
    old_proxy = settlement.contract
    old_client = payments.channels[old_proxy.raw].contract.raw
    old_worker = payouts.channels[old_proxy.raw].contract.raw
    second = await ask(client.http_port)  # served and committed, but below every payout threshold
    tokens2 = second["adjusted_tokens"]
    await settlement.force()
    await wait_until(
        lambda: payouts.channels[old_proxy.raw].signed_tokens == tokens1 + tokens2, 20, what="signed payout"
    )
    worker_wallet, client_wallet = payouts.owner.raw, payments.owner.raw
    assert net.payouts_to(worker_wallet, old_proxy) == (tokens1 + tokens2) * FEE  # the proxy paid both
    balance = ClientData.from_cell(net.data(old_client)).balance
    assert balance == TON - (tokens1 + tokens2) * PRICE

    # the root owner changes the fees: params_version 1 -> 2
    await net.owner.apply([set_fees(NEW_PRICE, NEW_FEE)])
    await wait_until(
        lambda: payouts.chain_params.params_version == 2 and payments.chain_params.params_version == 2,
        20,
        what="worker and client moved to the new params",
    )
    assert "params_version rose 1 -> 2 (price 20 -> 31" in caplog.text
    assert "closed 1 proxy connections to reconnect under params version 2" in caplog.text
    assert old_client in payments.retiring and payouts.channels[old_proxy.raw].leaving is not None
    # the old proxy contract is under the old params: neither reconnects to it
    await wait_until(lambda: "params version 1" in str(client.service.last_error), 20, what="refused")
    assert WorkerData.from_cell(net.data(old_worker)).tokens == tokens1 + tokens2

    # the proxy redeploys under the new params (what the proxy must do on a params change; driven
    # here by starting it anew and re-registering it in place of the old one)
    proxy2 = await net.proxy("proxy2")
    await net.owner.apply([unregister_proxy(1)])
    await net.register(proxy2)
    settlement2 = proxy2.service.chain
    assert settlement2 is not None and settlement2.contract != old_proxy
    await wait_until(lambda: len(proxy2.service.workers.candidates()) == 1, 30, what="worker moved")
    await wait_until(lambda: client.service.connections, 30, what="client reconnected")
    new_client = payments.channels[settlement2.contract.raw].contract.raw
    new_worker = payouts.channels[settlement2.contract.raw].contract.raw
    assert (new_client, new_worker) != (old_client, old_worker)
    assert new_client != old_client and new_worker != old_worker
    third = await ask(client.http_port)
    tokens3 = third["adjusted_tokens"]
    assert third["total_cost"] == tokens3 * NEW_PRICE
    await settlement2.force()
    data = ClientData.from_cell(net.data(new_client))
    assert (data.tokens_used, data.balance) == (tokens3, TON - tokens3 * NEW_PRICE)
    assert net.payouts_to(worker_wallet, settlement2.contract) == tokens3 * NEW_FEE

    # the old client contract: no refund granted by its proxy, so after 0.5 * (600 - 300) s of chain
    # time the client asks for it, and closes after unlock_ts (300 s later); all its balance comes back
    await net.chain.advance_time(150)
    await wait_until(lambda: ClientData.from_cell(net.data(old_client)).state == 1, 20, what="closing")
    await net.chain.advance_time(300)
    await wait_until(lambda: not payments.retiring, 20, what="old client contract closed")
    assert ClientData.from_cell(net.data(old_client)).state == 2
    assert net.payouts_to(client_wallet, old_proxy) == balance

"""Leaving a proxy on a whole network in one process, every node built by its own composition root on
the in-process local chain (our FunC contracts on the TON emulator).

A proxy contract that starts closing: the worker submits its signed payout at once (paid exactly
what it served) and stops serving that proxy. A root params change: the one proxy deploys a contract
under the new params by itself and serves on it, while it closes the old one (a signed refund to the
client contract, a last payout to the worker contract, each exact; after the delay, on the chain's
clock, the commission and stake to its owner); the worker and the client notice the new
``params_version``, leave the old contracts, come back on new ones, and a request is charged at the new
price on them, counted from zero."""

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
from cocoon.proxy.closing import Phase
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService, ledger_path
from cocoon.proxy.settlement.closer import CLOSE_VALUE
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.registry.owner import RootOwner, local_params, register_proxy, set_fees
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData, ProxyData, ProxyEndpoints, WorkerData
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
        running = await self.stack.enter_async_context(build_proxy(await self.proxy_config(name), self.deps))
        self.tasks.append(asyncio.create_task(running.run()))
        return running

    async def proxy_config(self, name: str) -> ProxyConfig:
        return ProxyConfig(
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
            root_poll_interval_s=0.5,
        )

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


async def start(net: Net, proxy: RunningNode[ProxyService] | None = None) -> Nodes:
    """A proxy (``proxy``, or a new one) registered in the root, a worker and a client it lists, connected."""
    proxy = proxy or await net.proxy("proxy")
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


async def test_a_root_params_change_moves_the_proxy_client_and_worker_to_new_contracts(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy, worker, client = await start(net)

    first = await ask(client.http_port)
    tokens1 = first["adjusted_tokens"]
    assert tokens1 > 0 and first["total_cost"] == tokens1 * PRICE
    old = proxy.service.chain
    assert old is not None
    await old.force()  # the client is charged on chain, the worker paid, the commission withdrawn
    payouts, payments = worker.service.payouts, client.service.payments
    assert payouts is not None and payments is not None
    old_proxy = old.contract
    old_client = payments.channels[old_proxy.raw].contract.raw
    old_worker = payouts.channels[old_proxy.raw].contract.raw
    second = await ask(client.http_port)  # committed on chain (every 0.5 s) but neither charged nor paid
    tokens2 = second["adjusted_tokens"]
    await wait_until(
        lambda: payouts.channels[old_proxy.raw].signed_tokens == tokens1 + tokens2, 20, what="signed payout"
    )
    worker_wallet, client_wallet, proxy_wallet = payouts.owner.raw, payments.owner.raw, old.sender.address
    assert net.payouts_to(worker_wallet, old_proxy) == tokens1 * FEE
    assert ClientData.from_cell(net.data(old_client)).balance == TON - tokens1 * PRICE
    owner_before = net.payouts_to(proxy_wallet.raw, old_proxy)
    assert owner_before == tokens1 * (PRICE - FEE)  # the first request's commission, withdrawn by force()

    # the root owner changes the fees: params_version 1 -> 2; the proxy (same process, key, database)
    # deploys a contract under the new params, serves on it and closes the old one by itself
    await net.owner.apply([set_fees(NEW_PRICE, NEW_FEE)])
    await wait_until(lambda: proxy.service.chain is not old, 30, what="the proxy moved to a new contract")
    new = proxy.service.chain
    assert new is not None and new.contract != old_proxy and new.params.params_version == 2
    assert "params_version rose 1 -> 2 (price 20 -> 31" in caplog.text
    assert f"deploying proxy contract {new.contract}, closing {old_proxy}" in caplog.text
    assert proxy.service._proxy_info().proxy_contract == new.contract.raw  # what GetProxyInfo says
    assert proxy.service._proxy_info().params_version == 2
    assert old.store.close_requested and old.refusal is not None  # persisted; no new request on it

    # the old contract closes: one signed refund to the client contract, one last payout to the worker
    # contract, each for exactly the total of its channel (the second request's tokens included)
    await wait_until(lambda: ClientData.from_cell(net.data(old_client)).state == 2, 30, what="refund")
    await wait_until(lambda: WorkerData.from_cell(net.data(old_worker)).state == 2, 30, what="last payout")
    refunded = ClientData.from_cell(net.data(old_client))
    assert refunded.tokens_used == tokens1 + tokens2 and refunded.balance == 0
    assert net.payouts_to(client_wallet, old_proxy) == TON - (tokens1 + tokens2) * PRICE  # exactly the rest
    assert WorkerData.from_cell(net.data(old_worker)).tokens == tokens1 + tokens2
    assert net.payouts_to(worker_wallet, old_proxy) == (tokens1 + tokens2) * FEE  # exactly what it earned
    await wait_until(lambda: not payments.retiring, 20, what="the client saw its old contract closed")

    # the worker and client are on new contracts; a request is charged at the new price, and the new
    # contracts count from zero (nothing of the old channels is carried over)
    await wait_until(lambda: len(proxy.service.workers.candidates()) == 1, 30, what="worker back")
    await wait_until(lambda: new.contract.raw in payments.channels, 30, what="client back")
    await wait_until(lambda: client.service.connections, 30, what="client reconnected")
    new_client = payments.channels[new.contract.raw].contract.raw
    new_worker = payouts.channels[new.contract.raw].contract.raw
    assert new_client != old_client and new_worker != old_worker
    third = await ask(client.http_port)
    tokens3 = third["adjusted_tokens"]
    assert third["total_cost"] == tokens3 * NEW_PRICE
    await new.force()
    data = ClientData.from_cell(net.data(new_client))
    assert data.tokens_used == tokens3  # charged for the new request only
    # deposits are whole stakes (1 TON here; the client's upkeep may add one more while it attaches)
    assert data.balance < TON * 2 and (data.balance + tokens3 * NEW_PRICE) % TON == 0
    assert net.payouts_to(worker_wallet, new.contract) == tokens3 * NEW_FEE
    assert new.channels.totals() == {("client", client_wallet): tokens3, ("worker", worker_wallet): tokens3}

    # after proxy_delay_before_close of chain time the old contract's close completes: the proxy's
    # owner gets the commission of the second request (the first one's was withdrawn) and the stake
    closing = ProxyData.from_cell(net.data(old_proxy.raw))
    assert closing.state == 1 and closing.balance == tokens2 * (PRICE - FEE)
    assert closing.stake == local_params().min_proxy_stake
    assert net.payouts_to(proxy_wallet.raw, old_proxy) == owner_before  # nothing before the delay
    held = net.local.account(old_proxy).balance
    await net.chain.advance_time(local_params().proxy_delay_before_close + 1)
    await wait_until(lambda: ProxyData.from_cell(net.data(old_proxy.raw)).state == 2, 30, what="completed")
    received = net.payouts_to(proxy_wallet.raw, old_proxy) - owner_before
    # everything the contract held (commission + stake + its reserve) and the change of the complete
    # message, less that transaction's fees
    assert closing.balance + closing.stake < received <= held + CLOSE_VALUE
    assert held + CLOSE_VALUE - received < TON // 100
    assert net.local.account(old_proxy).balance == 0
    await wait_until(lambda: not proxy.service.old_contracts(), 20, what="the old close ended")
    assert CommitStore.closing_contracts(new.ledger) == []  # a restart does not come back to it


def closing_contracts(config: ProxyConfig) -> list[str]:
    """The proxy contracts whose close the proxy's database says is still to carry on."""
    ledger = Ledger(ledger_path(config.data_dir))
    try:
        return CommitStore.closing_contracts(ledger)
    finally:
        ledger.close()


async def test_a_proxy_restarted_while_its_old_contract_closes_carries_the_close_on(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = await net.proxy_config("proxy")
    async with AsyncExitStack() as first_run:
        running = await first_run.enter_async_context(build_proxy(config, net.deps))
        task = asyncio.create_task(running.run())
        proxy, worker, client = await start(net, running)
        tokens = (await ask(client.http_port))["adjusted_tokens"]
        old = proxy.service.chain
        payouts, payments = worker.service.payouts, client.service.payments
        assert old is not None and payouts is not None and payments is not None
        old_client = payments.channels[old.contract.raw].contract.raw
        old_worker = payouts.channels[old.contract.raw].contract.raw
        await net.owner.apply([set_fees(NEW_PRICE, NEW_FEE)])
        # the old contract settles (refund, last payout) and waits out the delay on the chain's clock
        await wait_until(lambda: old.closer.decision.phase is Phase.WAITING, 30, what="old close waiting")
        new = proxy.service.chain
        assert new is not None and new is not old
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for listener in (proxy.service.worker_listener, proxy.service.client_listener):
            listener.grace = 0.1  # a quick stop (no drain of the live connections), as on a crash
    refunded = net.payouts_to(payments.owner.raw, old.contract)
    paid = net.payouts_to(payouts.owner.raw, old.contract)
    assert (refunded, paid) == (TON - tokens * PRICE, tokens * FEE)
    assert closing_contracts(config) == [old.contract.raw]  # persisted

    # the same proxy (key, database) starts again: it serves on the new contract and carries on the close
    again = await net.stack.enter_async_context(build_proxy(config, net.deps))
    net.tasks.append(asyncio.create_task(again.run()))
    assert again.service.chain is not None and again.service.chain.contract == new.contract
    assert f"carrying on the close of the proxy contract {old.contract.raw} (params version 1)" in caplog.text
    await wait_until(
        lambda: [c["phase"] for c in again.service.old_contracts()] == ["waiting"], 20, what="resumed"
    )
    owner = again.service.chain.sender.address.raw
    before = net.payouts_to(owner, old.contract)
    await net.chain.advance_time(local_params().proxy_delay_before_close + 1)
    await wait_until(lambda: ProxyData.from_cell(net.data(old.contract.raw)).state == 2, 30, what="closed")
    assert net.payouts_to(owner, old.contract) - before > local_params().min_proxy_stake
    await wait_until(lambda: not again.service.old_contracts(), 20, what="close ended")
    assert closing_contracts(config) == []
    # nothing paid twice across the restart
    assert net.payouts_to(payments.owner.raw, old.contract) == refunded
    assert net.payouts_to(payouts.owner.raw, old.contract) == paid
    assert ClientData.from_cell(net.data(old_client)).state == 2
    assert WorkerData.from_cell(net.data(old_worker)).state == 2


async def test_a_proxy_started_after_a_params_change_closes_its_contract_under_the_old_params(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = await net.proxy_config("proxy")
    async with AsyncExitStack() as first_run:
        running = await first_run.enter_async_context(build_proxy(config, net.deps))
        task = asyncio.create_task(running.run())
        proxy, worker, client = await start(net, running)
        tokens = (await ask(client.http_port))["adjusted_tokens"]
        old = proxy.service.chain
        payouts, payments = worker.service.payouts, client.service.payments
        assert old is not None and payouts is not None and payments is not None
        old_client = payments.channels[old.contract.raw].contract.raw
        await wait_until(
            lambda: old.pipeline.committed_seqno == old.pipeline.last_seqno, 20, what="committed"
        )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for listener in (proxy.service.worker_listener, proxy.service.client_listener):
            listener.grace = 0.1
    # the root's params change while the proxy is stopped
    await net.owner.apply([set_fees(NEW_PRICE, NEW_FEE)])
    assert closing_contracts(config) == []  # nothing asked yet: the proxy never saw the change

    again = await net.stack.enter_async_context(build_proxy(config, net.deps))
    net.tasks.append(asyncio.create_task(again.run()))
    new = again.service.chain
    assert new is not None and new.contract != old.contract and new.params.params_version == 2
    assert f"the proxy contract {old.contract.raw} is under params version 1, older than the root's 2" in (
        caplog.text
    )
    await wait_until(
        lambda: [c["phase"] for c in again.service.old_contracts()] == ["waiting"], 30, what="old close"
    )
    assert net.payouts_to(payments.owner.raw, old.contract) == TON - tokens * PRICE  # the refund, exact
    assert ClientData.from_cell(net.data(old_client)).state == 2
    await wait_until(lambda: net.payouts_to(payouts.owner.raw, old.contract) == tokens * FEE, 20, what="paid")
    assert closing_contracts(config) == [old.contract.raw]

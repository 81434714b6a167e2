"""Long auth end to end: our client daemon's COCOON side against our proxy's COCOON port on a local
chain (in process). The client has no contract yet, so the proxy asks for long auth; the client
derives its contract, deploys it, stores its secret's hash and registers the proxy's nonce from its
wallet; the proxy's chain reader sees the note and authorizes. The answer is priced at the root's
price, and the next connection authorizes with the short secret."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cocoon.api.validation import validate_request
from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.client.backend import Privacy
from cocoon.client.cocoon_auth import CocoonAccount
from cocoon.client.cocoon_proxy import CocoonProxies
from cocoon.client.cocoon_register import ChainLongAuth, our_contracts
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.engine.memory import MemoryEngine
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import CLIENT_CHANNEL, Ledger
from cocoon.proxy.service import ProxyService
from cocoon.proxy.settlement import ProxySettlement, SettlementConfig
from cocoon.roles import ProxyConfig, WorkerConfig
from cocoon.ton import data
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell
from cocoon.ton.ops import TON
from cocoon.ton.params import make_params
from cocoon.wallet.sender import BatchSender
from cocoon.wire.messages import AnswerEnd
from cocoon.worker.service import WorkerService
from waiting import wait_until

PRICE, FEE = 20, 19
PROXY_SECRET = b"\x05" * 32
FAST = SettlementConfig(flush_interval_s=0, note_interval_s=0, settle_interval_s=0, tick_s=0)


def addr(tag: str) -> Address:
    return Address(0, hashlib.sha256(tag.encode()).digest())


CLIENT_OWNER = addr("client-owner")


class FaucetSender(BatchSender):
    """A wallet stand-in: each message injected from a fixed address (not debited)."""

    def __init__(self, chain: LocalChain, address: Address) -> None:
        super().__init__(address)
        self.chain = chain

    async def send_many(self, messages: Any) -> None:
        for msg in messages:
            self.chain.send_internal(
                self.address, msg.dest, msg.value, msg.body, bounce=msg.bounce, state_init=msg.state_init
            )


@contextlib.asynccontextmanager
async def chain_network(tmp_path: Path) -> AsyncIterator[tuple[ProxyService, LocalChain, Any]]:
    local = LocalChain(None, now=1_750_000_000)
    chain = AsyncLocalChain(local)
    params = make_params(
        proxy_code=contract_code("proxy"),
        worker_code=contract_code("worker"),
        client_code=contract_code("client"),
        price_per_token=PRICE,
        worker_fee_per_token=FEE,
    )
    root = local.deploy(*data.root_state_init(contract_code("root"), addr("root-owner"), params), TON)
    ledger = Ledger(tmp_path / "state.db")
    settlement = ProxySettlement(
        chain,
        FaucetSender(local, addr("proxy-wallet")),
        ledger,
        PROXY_SECRET,
        addr("proxy-owner"),
        root,
        params,
        FAST,
    )
    await settlement.start()
    await settlement.wait_ready(5)
    config = ProxyConfig(worker_port=0, client_port=0, cocoon_pow_difficulty=4, local_client_credit_nano=0)
    proxy = ProxyService(
        config, make_identity("", "fake"), make_policy("fake"), make_policy("any"), ledger, settlement
    )
    await proxy.start()
    worker_config = WorkerConfig(proxies=[f"127.0.0.1:{proxy.worker_listener.port}"])
    worker = WorkerService(worker_config, MemoryEngine(), make_identity("", "fake"), make_policy("fake"))

    async def read_chain() -> None:  # the proxy's settlement loop, reading register notes among others
        while True:
            await settlement.tick()
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(read_chain())]
    try:
        await wait_until(lambda: len(proxy.workers.candidates()) == 1, 20, what="the worker registered")
        yield proxy, local, params
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proxy.aclose()
        ledger.close()


async def test_long_auth_registers_on_chain_then_short_auth_follows(tmp_path: Path) -> None:
    async with chain_network(tmp_path) as (proxy, local, params):
        assert proxy.cocoon_port is not None
        long_auth = ChainLongAuth(
            AsyncLocalChain(local), FaucetSender(local, CLIENT_OWNER), our_contracts(params)
        )
        links = CocoonProxies(
            [f"127.0.0.1:{proxy.cocoon_port.port}"],
            make_identity("", "fake"),
            CocoonAccount(CLIENT_OWNER.raw),
            long_auth=long_auth,
            price_per_token=PRICE,
        )
        keeper = asyncio.create_task(links.run())
        try:
            await wait_until(lambda: links.links, 30, what="long auth done")
            [link] = links.links.values()
            assert link.authorized.auth == "long" and long_auth.registrations == 1
            key = int.from_bytes(link.authorized.proxy.proxy_public_key, "big")
            proxy_contract = Address.parse(link.authorized.proxy.proxy_sc_address)
            ours = data.address_of(data.client_state_init(CLIENT_OWNER, proxy_contract, key, params))
            assert Address.parse(link.authorized.client_sc_address) == ours
            state = local.account(ours).data
            assert isinstance(state, Cell)
            assert data.ClientData.from_cell(state).secret_hash == int.from_bytes(
                hashlib.sha256(b"").digest(), "big"
            )

            body = {
                "model": FAKE_MODEL,
                "messages": [{"role": "user", "content": "hi there"}],
                "max_tokens": 16,
            }
            request = validate_request("/v1/chat/completions", json.dumps(body).encode())
            parts = [p async for p in await link.run(request, 1, Privacy.PLAINTEXT)]
            end = parts[-1]
            assert isinstance(end, AnswerEnd) and end.adjusted_tokens > 0
            assert end.cost == end.adjusted_tokens * PRICE
            assert proxy.chain is not None  # the client contract's channel was charged exactly that
            assert (
                proxy.chain.channels.counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).tokens_max
                == end.adjusted_tokens
            )

            await link.conn.aclose("test: reconnect")
            await wait_until(lambda: links.links and next(iter(links.links.values())) is not link, 30)
            [again] = links.links.values()
            assert again.authorized.auth == "short" and long_auth.registrations == 1
        finally:
            keeper.cancel()
            with pytest.raises(asyncio.CancelledError):
                await keeper

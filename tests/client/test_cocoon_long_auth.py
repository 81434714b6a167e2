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
from cocoon_client import chain_cocoon_net
from test_onchain import CLIENT_OWNER, PRICE, FaucetSender

from cocoon.api.validation import validate_request
from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.client.backend import Privacy
from cocoon.client.cocoon_auth import CocoonAccount
from cocoon.client.cocoon_proxy import CocoonProxies
from cocoon.client.cocoon_register import ChainLongAuth, our_contracts
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.node.identity import make_identity
from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.proxy.service import ProxyService
from cocoon.ton import data
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.wire.messages import AnswerEnd
from waiting import wait_until


@contextlib.asynccontextmanager
async def chain_network(tmp_path: Path) -> AsyncIterator[tuple[ProxyService, LocalChain, Any]]:
    """`cocoon_client.chain_cocoon_net` with the proxy's settlement loop running (it reads the
    register notes off the chain); yields the proxy, the local chain and the root's params."""
    async with chain_cocoon_net(tmp_path) as (world, net):
        settlement = net.proxy.chain
        assert settlement is not None

        async def read_chain() -> None:
            while True:
                await settlement.tick()
                await asyncio.sleep(0.01)

        reader = asyncio.create_task(read_chain())
        try:
            yield net.proxy, world.local, world.params
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


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

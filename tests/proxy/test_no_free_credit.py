"""No free credit on a chain: a client is served only against its client contract.

A proxy that settles on chain refuses (402) a client with no client contract bound to it, through both
client entries (our RA-TLS client port and the COCOON port), before any worker is reached, even when its
ledger holds off-chain credit for that client or its config names some; the off-chain credit setting is
refused together with a chain in the config, and still works without one.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cocoon_client import CocoonTestClient, chain_cocoon_net
from servicenet import ServiceNet, service_net, wait_for
from test_onchain import CLIENT_OWNER, World

from cocoon.config import load_config
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.errors import ConfigError, InsufficientFundsError
from cocoon.net.rpc import RpcConnection
from cocoon.net.tls import connect_attested
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.payments.params import NetworkParams, Tokens
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import Ledger
from cocoon.roles import ProxyConfig
from cocoon.tl.types import ClientAuthorizationWithProxyFailed, ClientAuthorizeWithProxyLong
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart, Role, RunQuery
from cocoon.wire.session import EndpointConfig

CHAT = {"model": FAKE_MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


class Unbound:
    """A chain on which no client has a contract (`ChainCredit`)."""

    scope = "0:" + "11" * 32

    def owner_of(self, client_id: str) -> str | None:
        return None

    def available(self, owner: str, reserved: Tokens) -> int:
        raise AssertionError("no contract: nothing to read")

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: Tokens) -> None:
        raise AssertionError("nothing is recorded for a refused client")


def test_the_book_gives_no_ledger_credit_to_an_unbound_client_on_a_chain(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state.db")
    ledger.ensure_client("c", 10**12)  # say, credit left by an earlier run without a chain
    off_chain = ClientBook(ledger, NetworkParams())
    assert off_chain.available_tokens("c") == 10**12 // 20
    book = ClientBook(ledger, NetworkParams(), Unbound())
    assert book.available_tokens("c") == 0
    with pytest.raises(InsufficientFundsError, match="no client contract") as refused:
        book.reserve("r1", "c", max_tokens=8, request_bytes=10, max_coefficient=1000)
    assert "top up" in str(refused.value) and book.reserved_tokens("c") == 0
    ledger.close()


def test_a_config_with_a_chain_and_off_chain_credit_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"local_client_credit_nano = 1 with a chain set"):
        ProxyConfig(chain_url="http://127.0.0.1:1", local_client_credit_nano=1)
    env = {"COCOON_CHAIN_URL": "http://127.0.0.1:1", "COCOON_LOCAL_CLIENT_CREDIT_NANO": "5"}
    with pytest.raises(ConfigError, match="chain-less test networks only"):
        load_config(ProxyConfig, env=env)
    assert ProxyConfig().local_client_credit_nano == 0  # off by default
    assert ProxyConfig(chain_url="http://127.0.0.1:1").local_client_credit_nano == 0
    assert ProxyConfig(local_client_credit_nano=7).local_client_credit_nano == 7  # test networks
    with pytest.raises(ConfigError, match="with a chain set"):  # liteservers are a chain too
        ProxyConfig(chain="lite", ton_config="global.config.json", local_client_credit_nano=1)


async def _client(net: ServiceNet) -> RpcConnection:
    await wait_for(lambda: any(link.state for link in net.proxy.workers))
    port = net.proxy.client_listener.port
    stream = await connect_attested("127.0.0.1", port, make_identity("", "fake"), make_policy("fake"))
    config = EndpointConfig(Role.CLIENT, "no-contract", accept_roles=frozenset({Role.PROXY}))
    return await RpcConnection.open(stream, config, initiator=True)


async def _ask(conn: RpcConnection) -> list[AnswerPart]:
    query = RunQuery(conn.new_request_id(), FAKE_MODEL, json.dumps(CHAT).encode(), 1000, 8, 10_000)
    async with asyncio.timeout(10), await conn.run_query(query) as answer:
        return [part async for part in answer]


def _served(net: ServiceNet) -> tuple[int, int]:
    assert net.worker.server is not None
    return net.worker.server.counters.served, net.worker.server.counters.rejected


async def test_a_client_without_a_contract_is_refused_by_a_proxy_on_chain(tmp_path: Path) -> None:
    world = World(tmp_path)
    ledger = Ledger(world.db)
    settlement = world.settlement(ledger)
    await settlement.start()
    await settlement.wait_ready(5)
    # The service is given off-chain credit too (as `cocoon up` did): on a chain it must not be granted.
    async with service_net(tmp_path, chain=settlement, ledger=ledger, local_client_credit_nano=10**12) as net:
        async with await _client(net) as conn:
            [error] = await _ask(conn)
        assert isinstance(error, AnswerError)
        assert error.status == 402 and error.code == "insufficient_funds"
        assert "no client contract" in error.message and "top up" in error.message
        assert net.proxy.router.counters.refused_funds == 1 and net.proxy.router.counters.routed == 0
        assert _served(net) == (0, 0)  # no worker was reached
        assert [(c.credit_nano, c.charged_nano) for c in net.proxy.ledger.clients()] == [(0, 0)]


async def test_the_same_network_without_a_chain_serves_from_off_chain_credit(tmp_path: Path) -> None:
    async with service_net(tmp_path, local_client_credit_nano=10**12) as net:
        async with await _client(net) as conn:
            parts = await _ask(conn)
        assert isinstance(parts[-1], AnswerEnd)
        assert _served(net) == (1, 0)


async def test_a_cocoon_client_without_a_contract_is_told_to_open_one(tmp_path: Path) -> None:
    async with chain_cocoon_net(tmp_path, local_client_credit_nano=10**12) as (_world, net):
        port = net.proxy.cocoon_port
        assert port is not None
        port.long_auth_timeout_s = 0.2
        client = await CocoonTestClient.connect(net.port)
        await client.hello(CLIENT_OWNER.raw)
        auth = await client.conn.query(ClientAuthorizeWithProxyLong())
        assert isinstance(auth, ClientAuthorizationWithProxyFailed)
        assert "is not deployed" in auth.error and "top up" in auth.error
        await asyncio.wait_for(client.conn.wait_closed(), 10)
        assert net.proxy.ledger.client(client.client_id).credit_nano == 0
        assert net.proxy.router.counters.routed == 0 and _served(net) == (0, 0)

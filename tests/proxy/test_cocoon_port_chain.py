"""The proxy's COCOON client port on a local chain (in process): short authorization with the secret
whose hash the client contract holds, long authorization by the register note with the proxy's nonce,
requests charged on the client contract's channel, payment status and pushes."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from cocoon_client import CocoonNet, CocoonTestClient, cocoon_net
from test_onchain import CLIENT_OWNER, World

from cocoon.errors import RemoteQueryError
from cocoon.proxy.ledger import CLIENT_CHANNEL, Ledger
from cocoon.tl.types import (
    ClientAuthorizationWithProxyFailed,
    ClientAuthorizationWithProxySuccess,
    ClientAuthorizeWithProxyLong,
    ClientAuthorizeWithProxyShort,
    ClientConnectedToProxy,
    ClientConnectToProxy,
    ClientParams,
    ClientPaymentStatus,
    ClientProxyConnectionAuthLong,
    ClientProxyConnectionAuthShort,
    ClientUpdatePaymentStatus,
    ProxyClientRequestPayment,
    ProxySignedPayment,
)
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.ops import TON

SECRET = b"my cocoon secret"
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 16}


class ChainNet:
    def __init__(self, world: World, net: CocoonNet) -> None:
        self.world, self.net = world, net
        chain = net.proxy.chain
        assert chain is not None
        self.settlement = chain

    def open_client(self, *, secret: bytes | None) -> Address:
        """Deploy and top up CLIENT_OWNER's client contract with this proxy (its secret hash set)."""
        client = self.world.open_client(self.settlement.contract, 3 * TON)
        if secret is not None:
            digest = int.from_bytes(hashlib.sha256(secret).digest(), "big")
            body = m.OwnerClientChangeSecretHash(
                query_id=2, secret_hash=digest, excess_to=CLIENT_OWNER
            ).to_cell()
            self.world.local.send_internal(CLIENT_OWNER, client, TON // 2, body)
        return client

    def register(self, client: Address, nonce: int, owner: Address = CLIENT_OWNER) -> None:
        body = m.OwnerClientRegister(query_id=3, nonce=nonce, excess_to=owner).to_cell()
        self.world.local.send_internal(owner, client, TON // 2, body)


@pytest.fixture
async def chain_net(tmp_path: Path) -> ChainNet:  # type: ignore[misc]
    world = World(tmp_path)
    ledger = Ledger(world.db)
    settlement = world.settlement(ledger)
    await settlement.start()
    await settlement.wait_ready(5)
    async with cocoon_net(tmp_path, chain=settlement, ledger=ledger, local_client_credit_nano=0) as net:
        yield ChainNet(world, net)


async def test_short_auth_charges_the_client_contracts_channel(chain_net: ChainNet) -> None:
    contract = chain_net.open_client(secret=SECRET)
    s = chain_net.settlement
    client = await CocoonTestClient.connect(chain_net.net.port)
    hello = await client.hello(CLIENT_OWNER.raw)
    assert isinstance(hello.auth, ClientProxyConnectionAuthShort)
    assert hello.auth.secret_hash == hashlib.sha256(SECRET).digest() and hello.auth.nonce > 0
    assert Address.parse(hello.client_sc_address) == contract  # its form: test_cocoon_addresses
    assert Address.parse(hello.params.proxy_sc_address) == s.contract
    assert hello.params.proxy_public_key == s.public_key.to_bytes(32, "big")
    auth = await client.conn.query(ClientAuthorizeWithProxyShort(SECRET))
    assert isinstance(auth, ClientAuthorizationWithProxySuccess)
    assert s.owner_of(client.client_id) == CLIENT_OWNER.raw

    answer = await client.ask((7).to_bytes(32, "big"), CHAT)
    assert answer.error is None and answer.tokens > 0
    channel = s.channels.counters(CLIENT_CHANNEL, CLIENT_OWNER.raw)
    assert channel.tokens_max == answer.tokens == chain_net.net.charged_tokens(client)
    assert answer.payment is not None and answer.payment.max_tokens == answer.tokens

    await s.force()  # committed on chain and charged: the status carries the proxy's signed charge
    status = await client.conn.query(ClientUpdatePaymentStatus())
    assert isinstance(status, ClientPaymentStatus) and isinstance(status.signed_payment, ProxySignedPayment)
    assert status.db_tokens == status.max_tokens == answer.tokens
    assert status.signed_payment.data == s.signer.signed_payment(CLIENT_CHANNEL, CLIENT_OWNER.raw)

    await s.push([])  # the settlement's update for the moved channel reaches the COCOON connection
    async with asyncio.timeout(10):
        push = await client.packets.get()
    assert isinstance(push, ProxyClientRequestPayment) and push.request_id == bytes(32)
    assert push.request_tokens == 0 and push.max_tokens == answer.tokens
    assert isinstance(push.signed_payment, ProxySignedPayment)
    assert push.signed_payment.data == status.signed_payment.data
    await client.close()


async def test_a_wrong_secret_fails_and_binds_nothing(chain_net: ChainNet) -> None:
    chain_net.open_client(secret=SECRET)
    client = await CocoonTestClient.connect(chain_net.net.port)
    await client.hello(CLIENT_OWNER.raw)
    auth = await client.conn.query(ClientAuthorizeWithProxyShort(b"not the secret"))
    assert isinstance(auth, ClientAuthorizationWithProxyFailed) and "sha256 mismatch" in auth.error
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    assert chain_net.settlement.owner_of(client.client_id) is None


async def test_long_auth_waits_for_the_register_note_with_its_nonce(chain_net: ChainNet) -> None:
    contract = chain_net.open_client(secret=None)  # deployed, no secret: long authorization
    s = chain_net.settlement
    client = await CocoonTestClient.connect(chain_net.net.port)
    hello = await client.hello(CLIENT_OWNER.raw)
    assert isinstance(hello.auth, ClientProxyConnectionAuthLong) and hello.auth.nonce > 0
    waiting = asyncio.create_task(client.conn.query(ClientAuthorizeWithProxyLong(), timeout=30))
    chain_net.register(contract, hello.auth.nonce + 1)  # a note with another nonce authorizes nothing
    await s.tick()
    port = chain_net.net.proxy.cocoon_port
    assert port is not None and port.registers.notes_ignored == 1 and not waiting.done()
    chain_net.register(contract, hello.auth.nonce)
    await s.tick()
    auth = await waiting
    assert isinstance(auth, ClientAuthorizationWithProxySuccess)
    assert s.owner_of(client.client_id) == CLIENT_OWNER.raw
    answer = await client.ask((8).to_bytes(32, "big"), CHAT)
    assert answer.error is None
    assert s.channels.counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).tokens_max == answer.tokens > 0
    await client.close()


async def test_long_auth_times_out_without_its_note(chain_net: ChainNet) -> None:
    chain_net.open_client(secret=None)
    port = chain_net.net.proxy.cocoon_port
    assert port is not None
    port.long_auth_timeout_s = 0.2
    client = await CocoonTestClient.connect(chain_net.net.port)
    await client.hello(CLIENT_OWNER.raw)
    auth = await client.conn.query(ClientAuthorizeWithProxyLong())
    assert isinstance(auth, ClientAuthorizationWithProxyFailed) and "register note" in auth.error
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    assert len(port.registers) == 0


async def test_a_client_without_a_contract_gets_long_auth_and_no_credit(chain_net: ChainNet) -> None:
    client = await CocoonTestClient.connect(chain_net.net.port)
    hello = await client.hello(CLIENT_OWNER.raw)
    assert isinstance(hello.auth, ClientProxyConnectionAuthLong)
    await client.close()


async def test_a_client_needing_a_newer_root_version_is_refused(chain_net: ChainNet) -> None:
    port = chain_net.net.proxy.cocoon_port
    assert port is not None
    port.root_version = 2  # as build_proxy follows the root
    client = await CocoonTestClient.connect(chain_net.net.port)
    with pytest.raises(RemoteQueryError, match="config version is too low"):
        await client.conn.query(ClientConnectToProxy(ClientParams(CLIENT_OWNER.raw, True, 1, 4), 3))
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    client = await CocoonTestClient.connect(chain_net.net.port)
    hello = await client.conn.query(ClientConnectToProxy(ClientParams(CLIENT_OWNER.raw, True, 1, 4), 2))
    assert isinstance(hello, ClientConnectedToProxy)
    await client.close()

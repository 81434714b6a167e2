"""The addresses of the proxy's ``client.connectedToProxy`` are in the reference proxy's form, chain or not.

A reference client parses the proxy owner, proxy contract and client contract addresses and compares
them, flags included, with the ones it derives: non-bounceable, test-only on a TON testnet. So every
address is user-friendly and non-bounceable, test-only when the client's own wallet address is; our
own client daemon compares them by value and still registers and authorizes with what it gets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import pytest
from cocoon_client import CocoonTestClient, cocoon_net
from test_cocoon_port_chain import SECRET, ChainNet, chain_net
from test_onchain import CLIENT_OWNER, FaucetSender

from cocoon.client.cocoon_auth import CocoonAccount, authorize
from cocoon.client.cocoon_register import ChainLongAuth, our_contracts
from cocoon.net.cocoon_conn import connect_cocoon
from cocoon.node.identity import make_identity
from cocoon.proxy.cocoon_session import ZERO_ADDRESS, reference_form
from cocoon.tl.types import ClientConnectedToProxy
from cocoon.ton import data
from cocoon.ton.address import Address, is_test_only
from cocoon.ton.reference.fake_root import FakeRoot
from waiting import wait_until

__all__ = ["chain_net"]  # the chain-backed fixture, used by name

NON_BOUNCEABLE, TEST_ONLY = 0x51, 0x80
REFERENCE_CONFIG = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "cocoon-reference" / "config"
)
REFERENCE_ROOT = "EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ"  # the reference configs' root


def tag(text: str) -> int:
    """The flag byte of a user-friendly address (fails on the raw form)."""
    assert ":" not in text, f"{text!r} is in the raw form"
    return base64.urlsafe_b64decode(text + "==")[0]


def addresses(hello: ClientConnectedToProxy) -> list[str]:
    return [hello.params.proxy_owner_address, hello.params.proxy_sc_address, hello.client_sc_address]


def test_the_reference_form_is_non_bounceable_and_test_only_on_a_testnet() -> None:
    address = Address(0, hashlib.sha256(b"x").digest())
    assert tag(reference_form(address, testnet=False)) == NON_BOUNCEABLE
    assert tag(reference_form(address, testnet=True)) == NON_BOUNCEABLE | TEST_ONLY
    for testnet in (False, True):
        assert Address.parse(reference_form(address, testnet=testnet)) == address
        assert is_test_only(reference_form(address, testnet=testnet)) is testnet
    assert not is_test_only(address.raw) and not is_test_only("not an address")


@pytest.mark.parametrize("testnet", [False, True])
async def test_with_a_chain_every_address_is_in_the_reference_form(
    chain_net: ChainNet, testnet: bool
) -> None:
    contract = chain_net.open_client(secret=SECRET)
    s = chain_net.settlement
    client = await CocoonTestClient.connect(chain_net.net.port)
    hello = await client.hello(CLIENT_OWNER.friendly(bounceable=False, testnet=testnet))
    assert addresses(hello) == [
        reference_form(s.owner, testnet=testnet),
        reference_form(s.contract, testnet=testnet),
        reference_form(contract, testnet=testnet),
    ]
    assert {tag(a) for a in addresses(hello)} == {NON_BOUNCEABLE | (TEST_ONLY if testnet else 0)}
    await client.close()


async def test_a_client_writing_its_owner_raw_gets_the_non_test_form(chain_net: ChainNet) -> None:
    chain_net.open_client(secret=SECRET)
    client = await CocoonTestClient.connect(chain_net.net.port)
    hello = await client.hello(CLIENT_OWNER.raw)
    assert {tag(a) for a in addresses(hello)} == {NON_BOUNCEABLE}
    await client.close()


async def test_our_client_registers_and_authorizes_with_the_reference_form(chain_net: ChainNet) -> None:
    """Long auth by our client daemon's own code: it derives its contract, compares it with the
    proxy's by value, deploys and registers it; the proxy sees the note and authorizes."""
    world, s = chain_net.world, chain_net.settlement
    long_auth = ChainLongAuth(
        world.chain, FaucetSender(world.local, CLIENT_OWNER), our_contracts(world.params)
    )
    conn = await connect_cocoon(
        "127.0.0.1", chain_net.net.port, make_identity("", "fake"), handshake_timeout=20
    )
    account = CocoonAccount(CLIENT_OWNER.friendly(bounceable=False))
    try:
        authorizing = asyncio.create_task(authorize(conn, account, long_auth, "our proxy"))
        await wait_until(lambda: long_auth.registrations or authorizing.done(), 30, what="nonce registered")
        assert not authorizing.done() or authorizing.exception() is None, authorizing.exception()
        await s.tick()  # the proxy's chain reader sees the register note
        authorized = await asyncio.wait_for(authorizing, 30)
    finally:
        await conn.aclose("test done")
    assert authorized.auth == "long" and long_auth.registrations == 1
    key = int.from_bytes(authorized.proxy.proxy_public_key, "big")
    ours = data.address_of(data.client_state_init(CLIENT_OWNER, s.contract, key, world.params))
    assert authorized.client_sc_address == reference_form(ours, testnet=False)
    assert authorized.proxy.proxy_sc_address == reference_form(s.contract, testnet=False)


async def test_without_a_chain_every_address_is_in_the_same_form(tmp_path: Path) -> None:
    async with cocoon_net(tmp_path) as net:
        client = await CocoonTestClient.connect(net.port)
        hello = await client.hello(CLIENT_OWNER.friendly(bounceable=False))
        assert addresses(hello) == [reference_form(ZERO_ADDRESS, testnet=False)] * 3
        await client.close()


async def test_without_a_chain_the_fake_roots_contracts_are_in_the_same_form(tmp_path: Path) -> None:
    config = REFERENCE_CONFIG / "fake-ton-config.json"
    if not config.is_file():
        pytest.skip(f"the reference peer's fake TON config is not at {config}")
    root = FakeRoot.from_json(json.loads(config.read_text()), Address.parse(REFERENCE_ROOT))
    settings = {"cocoon_fake_root": str(config), "cocoon_fake_root_address": REFERENCE_ROOT}
    async with cocoon_net(tmp_path, **settings) as net:
        key = net.proxy.identity.public_key
        client = await CocoonTestClient.connect(net.port)
        hello = await client.hello(CLIENT_OWNER.friendly(bounceable=False))
        proxy_contract = root.proxy_contract(ZERO_ADDRESS, key)
        assert addresses(hello) == [
            reference_form(ZERO_ADDRESS, testnet=False),
            reference_form(proxy_contract, testnet=False),
            reference_form(root.client_contract(CLIENT_OWNER, proxy_contract, key), testnet=False),
        ]
        await client.close()

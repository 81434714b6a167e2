"""Long auth's on-chain half (`ChainLongAuth`) on the local chain with our compiled contracts: the
client contract the proxy names is checked against the one derived from the root's code, deployed,
its secret hash synced, and ``owner_client_register(nonce)`` reaches the proxy's contract. For the
public network's contracts, the recorded mainnet cells (``tests/ton/reference_vectors``) stand in."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from reference_vectors import (  # the recorded public-network cells of tests/ton
    CLIENT_CONTRACT,
    CLIENT_OWNER,
    PROXY_CONTRACT,
    PROXY_PUBLIC_KEY,
    RecordedClient,
    Recorder,
    cell,
)

from cocoon.chainsvc.local import LocalChain
from cocoon.chainsvc.local.aio import AsyncLocalChain
from cocoon.client.cocoon_register import ChainLongAuth, our_contracts, reference_contracts
from cocoon.errors import PaymentError
from cocoon.tl.types import ProxyParams
from cocoon.ton import data
from cocoon.ton import reference as ref
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Transaction
from cocoon.ton.ops import TON, Op
from cocoon.ton.params import make_params
from cocoon.ton.signed import public_key_of

PROXY_SECRET = b"\x07" * 32


def addr(tag: str) -> Address:
    return Address(0, hashlib.sha256(tag.encode()).digest())


class ChainSender:
    """A wallet stand-in: messages injected from ``address`` into the local chain, traces kept."""

    def __init__(self, chain: LocalChain, address: Address) -> None:
        self.chain, self.address = chain, address
        self.traces: list[list[Transaction]] = []

    async def send(
        self,
        dest: Address,
        value: int,
        body: Cell | None = None,
        *,
        state_init: tuple[Cell, Cell] | None = None,
        bounce: bool = True,
    ) -> None:
        self.traces.append(
            self.chain.send_internal(self.address, dest, value, body, bounce=bounce, state_init=state_init)
        )

    async def send_many(self, messages: Any) -> None:
        raise NotImplementedError


def network() -> tuple[LocalChain, Any, Address, ProxyParams]:
    chain = LocalChain(None, now=1_750_000_000)
    params = make_params(
        proxy_code=contract_code("proxy"),
        worker_code=contract_code("worker"),
        client_code=contract_code("client"),
    )
    key = int.from_bytes(public_key_of(PROXY_SECRET), "big")
    root = chain.deploy(*data.root_state_init(contract_code("root"), addr("root-owner"), params), TON)
    proxy = chain.deploy(*data.proxy_state_init(addr("proxy-owner"), key, root, params), 3 * TON // 10)
    proxy_params = ProxyParams(public_key_of(PROXY_SECRET), addr("proxy-owner").raw, proxy.raw, False, 4)
    return chain, params, proxy, proxy_params


async def test_register_deploys_syncs_the_secret_and_notifies_the_proxy_contract() -> None:
    chain, params, proxy, proxy_params = network()
    sender = ChainSender(chain, addr("client-owner"))
    auth = ChainLongAuth(AsyncLocalChain(chain), sender, our_contracts(params), secret=b"s3cret")  # type: ignore[arg-type]
    ours = data.address_of(
        data.client_state_init(
            sender.address, proxy, int.from_bytes(proxy_params.proxy_public_key, "big"), params
        )
    )
    await auth.register(proxy_params, ours.friendly(bounceable=True), nonce=-5)  # a TL long: any sign
    state = chain.account(ours)
    assert state.status is AccountStatus.ACTIVE and state.data is not None
    client = data.ClientData.from_cell(state.data)
    assert client.secret_hash == int.from_bytes(hashlib.sha256(b"s3cret").digest(), "big")
    assert client.balance >= params.min_client_stake
    register = sender.traces[-1]
    notes = [m for tx in register for m in tx.out_msgs if m.dest == proxy and m.op == Op.CLIENT_PROXY_REQUEST]
    assert notes and all(tx.success for tx in register)
    assert auth.registrations == 1


async def test_a_client_contract_that_is_not_ours_is_refused_before_any_message() -> None:
    chain, params, _, proxy_params = network()
    sender = ChainSender(chain, addr("client-owner"))
    auth = ChainLongAuth(AsyncLocalChain(chain), sender, our_contracts(params))  # type: ignore[arg-type]
    with pytest.raises(PaymentError, match="refusing to pay into it"):
        await auth.register(proxy_params, addr("someone-else").raw, nonce=1)
    assert sender.traces == []


async def test_the_public_networks_client_contract_is_derived_from_its_root_and_registered() -> None:
    root = ref.parse_reference_root(cell("root_data_v4"))
    sender = Recorder(CLIENT_OWNER)
    auth = ChainLongAuth(RecordedClient(), sender, reference_contracts(root))  # type: ignore[arg-type]
    proxy = ProxyParams(PROXY_PUBLIC_KEY, CLIENT_OWNER.raw, PROXY_CONTRACT.friendly(), False, 4)
    await auth.register(proxy, CLIENT_CONTRACT.friendly(), nonce=1234)
    # Deployed, the empty secret's hash stored, balance = stake: only the register message goes out.
    [(dest, value, body)] = sender.sent
    assert dest == CLIENT_CONTRACT and value == TON and body is not None
    cs = body.begin_parse()
    assert (cs.load_uint(32), cs.load_uint(64), cs.load_uint(64)) == (Op.OWNER_CLIENT_REGISTER, 1, 1234)


async def test_keep_funded_tops_up_only_when_the_uncharged_use_leaves_under_half_a_stake() -> None:
    chain, params, proxy, proxy_params = network()
    sender = ChainSender(chain, addr("client-owner"))
    auth = ChainLongAuth(AsyncLocalChain(chain), sender, our_contracts(params))  # type: ignore[arg-type]
    key = int.from_bytes(proxy_params.proxy_public_key, "big")
    ours = data.address_of(data.client_state_init(sender.address, proxy, key, params)).raw
    await auth.register(proxy_params, ours, nonce=1)
    state = chain.account(Address.parse(ours))
    assert state.data is not None
    before = data.ClientData.from_cell(state.data)
    sent = len(sender.traces)
    spare = (
        before.balance - before.stake // 2
    ) // params.price_per_token  # tokens until half a stake is left
    assert not await auth.keep_funded(ours, used_tokens=spare - 1)
    assert len(sender.traces) == sent
    assert await auth.keep_funded(ours, used_tokens=spare + 1)
    state = chain.account(Address.parse(ours))
    assert state.data is not None
    assert data.ClientData.from_cell(state.data).balance == before.balance + params.min_client_stake
    assert auth.top_ups == 1

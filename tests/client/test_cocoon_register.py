"""Long auth's on-chain half (`ChainLongAuth`) on the local chain with our compiled contracts: the
client contract the proxy names is checked against the one derived from the root's code, deployed,
its secret hash synced, and ``owner_client_register(nonce)`` reaches the proxy's contract. For the
public network's contracts, the recorded mainnet cells (``tests/ton/reference_vectors``) stand in."""

from __future__ import annotations

import asyncio
import hashlib
import logging
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
from cocoon.clock import FakeClock
from cocoon.errors import PaymentError, WalletFundsError
from cocoon.payments.top_up import LAND_TIMEOUT_S
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


def op_of(body: Cell | None) -> int | None:
    if body is None:
        return None
    cs = body.begin_parse()
    return int(cs.preload_uint(32)) if cs.remaining_bits >= 32 else None


TOP_UPS = {Op.EXT_CLIENT_TOP_UP, Op.OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP}


class ChainSender:
    """A wallet stand-in: messages injected from ``address`` into the local chain, traces kept.

    Like a real chain, where a message the wallet returned from lands on the contract seconds later:
    while ``holding``, top-ups are "included" (``send`` returns) but kept off the chain until `land`;
    ``gate`` (when set) keeps a deployment inside ``send``; ``refusing`` refuses top-ups as a wallet
    holding too little does (`WalletFundsError`: certainly not sent)."""

    def __init__(self, chain: LocalChain, address: Address) -> None:
        self.chain, self.address = chain, address
        self.traces: list[list[Transaction]] = []
        self.handed: list[tuple[Address, int, Cell | None, bool]] = []  # (dest, value, body, deploys)
        self.held: list[tuple[Address, int, Cell | None]] = []
        self.holding = False
        self.refusing = False
        self.losing_deployments = False  # "included", never landing
        self.gate: asyncio.Event | None = None
        self.at_gate = asyncio.Event()

    async def send(
        self,
        dest: Address,
        value: int,
        body: Cell | None = None,
        *,
        state_init: tuple[Cell, Cell] | None = None,
        bounce: bool = True,
    ) -> None:
        top_up = op_of(body) in TOP_UPS
        if top_up and self.refusing:
            raise WalletFundsError("too little TON", address=self.address.raw, missing_nano=value)
        self.handed.append((dest, value, body, state_init is not None))
        if state_init is not None and self.gate is not None:
            self.at_gate.set()
            await self.gate.wait()
        if top_up and self.holding:
            self.held.append((dest, value, body))
            return
        if state_init is not None and self.losing_deployments:
            return
        self.traces.append(
            self.chain.send_internal(self.address, dest, value, body, bounce=bounce, state_init=state_init)
        )

    async def send_many(self, messages: Any) -> None:
        raise NotImplementedError

    def land(self) -> None:
        held, self.held = self.held, []
        for dest, value, body in held:
            self.traces.append(self.chain.send_internal(self.address, dest, value, body))

    def sent(self, *ops: int) -> list[int]:
        """The values of every message with one of ``ops`` handed over so far."""
        return [value for _, value, body, _ in self.handed if op_of(body) in ops]

    def top_ups(self) -> list[int]:
        return self.sent(*TOP_UPS)

    def deployments(self) -> int:
        return sum(deploys for *_, deploys in self.handed)


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
    assert auth.top_ups == 2  # every top-up counts: the register's went with its secret hash


# --- one top-up per need: a top-up that is sent but has not landed yet is not sent again ---------------

STAKE = 10**9  # make_params' min_client_stake: what the contract is topped up by
SENT = STAKE + TON // 5  # one top-up's message value: the amount and the op's attachment


class Registered:
    """Our client contract registered with a proxy (its secret set and one stake in it), and its auth."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.chain, self.params, proxy, self.proxy_params = network()
        self.sender = ChainSender(self.chain, addr("client-owner"))
        self.auth = ChainLongAuth(
            AsyncLocalChain(self.chain),
            self.sender,  # type: ignore[arg-type]
            our_contracts(self.params),
            secret=b"s3cret",
        )
        if clock is not None:
            self.auth.clock = clock
        key = int.from_bytes(self.proxy_params.proxy_public_key, "big")
        self.contract = data.address_of(data.client_state_init(self.sender.address, proxy, key, self.params))
        self.ours = self.contract.raw

    def data(self) -> data.ClientData:
        state = self.chain.account(self.contract)
        assert state.data is not None
        return data.ClientData.from_cell(state.data)

    def low(self) -> int:
        """Used tokens that leave the contract under half a stake (a payment status asking for a top-up)."""
        now = self.data()
        return now.tokens_used + (now.balance - now.stake // 2) // self.params.price_per_token + 1

    async def register(self, nonce: int = 1) -> None:
        await self.auth.register(self.proxy_params, self.ours, nonce=nonce)


async def registered(clock: FakeClock | None = None) -> Registered:
    net = Registered(clock)
    await net.register()
    assert net.data().balance == STAKE and net.sender.top_ups() == [SENT]
    return net


async def test_two_payment_statuses_before_the_top_up_lands_send_one() -> None:
    net = await registered()
    net.sender.holding = True
    used = net.low()
    assert await net.auth.keep_funded(net.ours, used_tokens=used)  # the first status: one stake sent
    assert not await net.auth.keep_funded(net.ours, used_tokens=used)  # the next: not landed yet
    assert net.sender.top_ups() == [SENT, SENT]
    assert net.auth.top_ups == 2  # the register's and one
    stats = net.auth.stats()
    assert stats["top_ups_in_flight_skipped"] == 1 and stats["top_ups_in_flight_nano"] == {net.ours: STAKE}
    net.sender.land()
    assert net.data().balance == 2 * STAKE
    assert not await net.auth.keep_funded(net.ours, used_tokens=used)  # landed: the need is met
    assert net.auth.stats()["top_ups_in_flight_nano"] == {}
    assert await net.auth.keep_funded(net.ours, used_tokens=net.low())  # low again: a new need
    assert net.sender.top_ups() == [SENT, SENT, SENT] and net.auth.top_ups == 3


async def test_a_top_up_that_never_lands_is_sent_again_after_the_land_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    net = await registered(clock)
    net.sender.holding = True
    used = net.low()
    assert await net.auth.keep_funded(net.ours, used_tokens=used)
    net.sender.held.clear()  # lost: included, but it never reaches the contract
    clock.advance(LAND_TIMEOUT_S - 1)  # the default of land_timeout_s
    assert not await net.auth.keep_funded(net.ours, used_tokens=used)
    clock.advance(1)
    net.sender.holding = False
    with caplog.at_level(logging.WARNING):
        assert await net.auth.keep_funded(net.ours, used_tokens=used)
    assert net.sender.top_ups() == [SENT, SENT, SENT] and net.data().balance == 2 * STAKE
    assert net.auth.stats()["top_ups_expired"] == 1 and net.auth.top_ups == 3
    assert "taking it as lost; sending it again" in caplog.text


async def test_a_register_before_the_secret_and_top_up_landed_sends_them_once() -> None:
    net = Registered()
    net.sender.holding = True
    await net.register(nonce=1)  # deployed; its secret and first top-up are on their way
    await net.register(nonce=2)  # the proxy did not see the nonce in time: the link reconnects
    assert net.sender.top_ups() == [SENT]
    assert len(net.sender.sent(Op.OWNER_CLIENT_REGISTER)) == 2 and net.auth.registrations == 2
    assert net.auth.stats()["top_ups_in_flight_skipped"] == 1
    net.sender.land()
    client = net.data()
    assert client.balance == STAKE
    assert client.secret_hash == int.from_bytes(hashlib.sha256(b"s3cret").digest(), "big")
    await net.register(nonce=3)  # landed: the secret is ours and the stake in, nothing to send
    assert net.sender.top_ups() == [SENT] and net.auth.stats()["top_ups_in_flight_nano"] == {}


async def test_long_auths_together_deploy_and_fund_the_contract_once_and_register_each_nonce() -> None:
    net = Registered()
    net.sender.gate = asyncio.Event()
    first = asyncio.create_task(net.register(nonce=1))
    await net.sender.at_gate.wait()  # its deployment is in the wallet, not on chain yet
    second = asyncio.create_task(net.register(nonce=2))  # another address of the same proxy
    await asyncio.sleep(0)
    net.sender.gate.set()
    await asyncio.gather(first, second)
    assert net.sender.deployments() == 1 and net.sender.top_ups() == [SENT]
    registers = [body for *_, body, _ in net.sender.handed if op_of(body) == Op.OWNER_CLIENT_REGISTER]
    nonces = []
    for body in registers:
        assert body is not None
        cs = body.begin_parse()
        cs.load_uint(32 + 64)
        nonces.append(cs.load_uint(64))
    assert sorted(nonces) == [1, 2] and net.auth.registrations == 2
    assert net.data().balance == STAKE


async def test_a_top_up_the_wallet_cannot_pay_leaves_nothing_in_flight() -> None:
    net = await registered()
    net.sender.refusing = True
    used = net.low()
    with pytest.raises(WalletFundsError):
        await net.auth.keep_funded(net.ours, used_tokens=used)
    assert net.auth.stats()["top_ups_in_flight_nano"] == {} and net.auth.top_ups == 1  # the register's
    net.sender.refusing = False  # funded: the next status sends it at once
    assert await net.auth.keep_funded(net.ours, used_tokens=used)
    assert net.data().balance == 2 * STAKE and net.auth.stats()["top_ups_in_flight_skipped"] == 0


async def test_a_register_before_the_deployment_landed_does_not_deploy_again() -> None:
    """The deployment is on its way (here: lost): registering again does not pay for another (0.8
    TON) until it has had the land timeout to land; then it is sent once more."""
    clock = FakeClock()
    net = Registered(clock)
    net.sender.losing_deployments = True
    with pytest.raises(PaymentError, match="not deployed yet"):
        await net.register(nonce=1)
    clock.advance(5)
    with pytest.raises(PaymentError, match="not deployed yet"):
        await net.register(nonce=2)  # the link tries again
    assert net.sender.deployments() == 1
    assert net.auth.stats()["deploys_in_flight_skipped"] == 1
    clock.advance(LAND_TIMEOUT_S)
    net.sender.losing_deployments = False
    await net.register(nonce=3)  # given up as lost: deployed again, and it lands
    assert net.sender.deployments() == 2 and net.auth.stats()["deploys"] == 2
    assert net.data().balance == STAKE and net.sender.top_ups() == [SENT]

"""Client, worker and proxy sides of the payment channels together on a local chain (in process):
client contract opening and registration, credit and 402, worker self cash-out of a signed payout,
rollback detection by the counterpart, and the client's close with a signed refund."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_onchain import PRICE, SECRET, FaucetSender, World, addr

from cocoon.client.payments import ClientPayments
from cocoon.errors import InsufficientFundsError, PaymentError, RemoteQueryError, StateRollbackError
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.ton.data import ClientData
from cocoon.ton.ops import TON
from cocoon.ton.signed import public_key_of
from cocoon.usage import Usage
from cocoon.wire.control import RegisterClient
from cocoon.wire.messages import PaymentUpdate
from cocoon.worker.payouts import WorkerPayouts

CLIENT_WALLET, WORKER_WALLET = addr("client-wallet"), addr("worker-wallet")
KEY = public_key_of(SECRET)


class Parties:
    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        self.ledger = Ledger(world.db)
        self.settlement = world.settlement(self.ledger)
        self.book = ClientBook(self.ledger, self.settlement.params, self.settlement)
        self.client_sender = FaucetSender(world.local, CLIENT_WALLET)
        self.client = ClientPayments(world.chain, self.client_sender, world.params, b"\x09" * 32)
        self.worker_sender = FaucetSender(world.local, WORKER_WALLET)
        self.worker = WorkerPayouts(
            world.chain, self.worker_sender, world.params, state_path=tmp_path / "payouts.json"
        )

    async def start(self) -> None:
        await self.settlement.start()
        await self.settlement.wait_ready(5)
        await self.client.open(self.settlement.contract, KEY)
        await self.worker.attach(self.settlement.contract, KEY)
        secret = self.client.secret_for(self.settlement.contract)
        answer = await self.settlement.register_client("cid", RegisterClient(CLIENT_WALLET.raw, secret), None)
        assert answer.deployed and answer.balance_nano == TON

    def request(self, request_id: str, prompt: int, completion: int) -> int:
        self.book.reserve(request_id, "cid", 100, 100, 1000)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
        return self.book.record(request_id, usage, 1000, "w1", WORKER_WALLET.raw, 0.0).adjusted_tokens

    async def commit(self) -> None:
        self.settlement.committer.flush()
        await self.settlement.tick(force=True)
        await self.settlement.tick()

    def update(self, kind: str, owner: str) -> PaymentUpdate:
        update = self.settlement.updates.update_for(kind, owner)
        assert update is not None
        return update


@pytest.fixture
async def parties(tmp_path: Path) -> Parties:
    p = Parties(World(tmp_path), tmp_path)
    await p.start()
    return p


async def test_a_client_cannot_claim_a_contract_without_its_secret(parties: Parties) -> None:
    with pytest.raises(RemoteQueryError, match="secret"):
        await parties.settlement.register_client("x", RegisterClient(CLIENT_WALLET.raw, b"guess"), None)
    assert (
        parties.settlement.owner_of("x") is None and parties.settlement.owner_of("cid") == CLIENT_WALLET.raw
    )


async def test_credit_is_bounded_by_the_contract_and_refused_beyond(parties: Parties) -> None:
    # 1 TON topped up, 1 TON stake, price 20: 50M tokens of credit
    assert parties.book.available_tokens("cid") == 50_000_000
    tokens = parties.request("r1", 300, 200)
    assert parties.book.available_tokens("cid") == 50_000_000 - tokens
    with pytest.raises(InsufficientFundsError):
        parties.book.reserve("big", "cid", 60_000_000, 0, 1000)


async def test_worker_cashes_out_a_signed_payout_and_the_client_is_charged(parties: Parties) -> None:
    total = sum(parties.request(f"r{i}", 100 * i, 50) for i in range(1, 6))
    await parties.commit()
    worker_update = parties.update(WORKER_CHANNEL, WORKER_WALLET.raw)
    assert worker_update.committed_to_chain == total and worker_update.signed_payment
    contract = parties.settlement.contract.raw
    parties.worker.on_update(contract, worker_update)
    assert await parties.worker.cash_out(force=True) == 1
    assert parties.worker_sender.paid_to(WORKER_WALLET) == total * 19
    assert await parties.worker.cash_out(force=True) == 0  # nothing new to claim

    parties.client.on_update(contract, parties.update(CLIENT_CHANNEL, CLIENT_WALLET.raw))
    await parties.settlement.force()
    data = ClientData.from_cell(parties.world.local.account(parties.client.channels[contract].contract).data)
    assert (data.tokens_used, data.balance) == (total, TON - total * PRICE)


async def test_counterparts_drop_a_proxy_whose_numbers_go_down(parties: Parties) -> None:
    parties.request("r1", 100, 100)
    await parties.commit()
    contract = parties.settlement.contract.raw
    good = parties.update(WORKER_CHANNEL, WORKER_WALLET.raw)
    parties.worker.on_update(contract, good)
    n = good.committed_to_chain - 1  # e.g. a proxy restarted from an older database
    lower = PaymentUpdate(good.counterpart, n, n, n)
    with pytest.raises(StateRollbackError, match="tokens_max"):
        parties.worker.on_update(contract, lower)
    parties.client.on_update(contract, parties.update(CLIENT_CHANNEL, CLIENT_WALLET.raw))
    forged = PaymentUpdate(good.counterpart, 10**6, 10**6, 10**6, good.signed_payment)
    with pytest.raises(PaymentError, match="does not decode"):
        parties.client.on_update(contract, forged)  # a worker's payout is no charge of our contract


async def test_close_refunds_exactly_the_remaining_balance(parties: Parties) -> None:
    total = parties.request("r1", 150, 30)
    contract = parties.settlement.contract.raw
    channel = parties.client.channels[contract]
    await parties.client.top_up(channel, 2 * TON)  # balance 3 TON, stake 1 TON
    await parties.client.close(channel)
    # closing: the 2 TON above the stake come back at once
    assert parties.client_sender.paid_to(CLIENT_WALLET) == 2 * TON
    for _ in range(4):  # read the closing note, commit the usage, sign grant_refund
        await parties.settlement.tick(force=True)
    data = ClientData.from_cell(parties.world.local.account(channel.contract).data)
    assert (data.state, data.tokens_used, data.balance) == (2, total, 0)
    refunded = parties.client_sender.paid_to(CLIENT_WALLET) + parties.world.sender.paid_to(CLIENT_WALLET)
    assert refunded == 3 * TON - total * PRICE  # the proxy's signed grant_refund paid the rest
    assert parties.settlement.counters.refunds_granted == 1


async def test_forced_close_after_the_delay_when_the_proxy_does_not_answer(parties: Parties) -> None:
    contract = parties.settlement.contract.raw
    channel = parties.client.channels[contract]
    await parties.client.close(channel)  # balance 1 TON = stake: nothing comes back at once
    data = ClientData.from_cell(parties.world.local.account(channel.contract).data)
    assert data.state == 1 and parties.client_sender.paid_to(CLIENT_WALLET) == 0
    # the proxy never grants the refund (it is down); after client_delay_before_close the client
    # closes again and the rest is paid from the proxy contract's stake
    await parties.client.close(channel)
    assert ClientData.from_cell(parties.world.local.account(channel.contract).data).state == 1  # too early
    parties.world.local.advance(parties.world.params.client_delay_before_close)
    await parties.client.close(channel)
    data = ClientData.from_cell(parties.world.local.account(channel.contract).data)
    assert data.state == 2 and parties.client_sender.paid_to(CLIENT_WALLET) == TON

"""NodeWallet on the in-process local chain: deploy on first use, batches of 4, resend until the seqno
moves, funds checks whose messages say how much to send where."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.clock import FakeClock
from cocoon.errors import ChainError, ContractError, WalletFundsError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, text_cell
from cocoon.ton.chain import AccountState, AccountStatus
from cocoon.ton.ops import TON, ExitCode
from cocoon.ton.wallet import WalletExternal
from cocoon.wallet import NodeWallet, OutMessage, WalletKey, WalletTimings
from cocoon.wallet.node import START_MINIMUM
from waiting import wait_until

START = 1_750_000_000
FAST = WalletTimings(
    resend_interval_s=0.05, poll_interval_s=0.01, inclusion_timeout_s=5.0, batch_window_s=0.0
)


def addr(tag: str) -> Address:
    return Address(0, hashlib.sha256(tag.encode()).digest())


PAYEE = addr("payee")


class LossyChain(AsyncLocalChain):
    """Drops the first ``lose`` externals (as a congested or restarted API would) and records them all."""

    def __init__(self, chain: LocalChain, lose: int = 0) -> None:
        super().__init__(chain)
        self.lose = lose
        self.externals: list[Cell] = []

    async def send_message(self, message: Cell) -> None:
        self.externals.append(message)
        if len(self.externals) <= self.lose:
            return
        await super().send_message(message)


@pytest.fixture
def local() -> LocalChain:
    return LocalChain(None, now=START)


def wallet_on(chain: AsyncLocalChain, fund: int = 0) -> NodeWallet:
    key = WalletKey(b"\x11" * 32, subwallet=0, owner=addr("owner"))
    if fund:
        chain.chain.fund(key.address, fund)
    return NodeWallet(chain, key, FAST)


def payee_values(local: LocalChain) -> list[int]:
    return [tx.in_msg.value for tx in local.transactions(PAYEE) if tx.in_msg is not None]


def externals_in(chain: LossyChain) -> list[WalletExternal]:
    return [WalletExternal.from_cell(_body_of(c)) for c in chain.externals]


def _body_of(external: Cell) -> Cell:
    from cocoon.ton.tlb import message_from_cell

    return message_from_cell(external).body


async def test_deploys_on_first_use_then_sends(local: LocalChain) -> None:
    chain = LossyChain(local)
    wallet = wallet_on(chain, fund=3 * TON)
    assert (await wallet.state()).status is AccountStatus.UNINIT
    assert await wallet.seqno() is None
    await wallet.send(PAYEE, TON // 10, text_cell("hi"), bounce=False)
    assert (await wallet.state()).status is AccountStatus.ACTIVE
    assert await wallet.seqno() == 1
    assert payee_values(local) == [TON // 10]
    await wallet.send(PAYEE, TON // 5, bounce=False)
    assert payee_values(local) == [TON // 10, TON // 5]
    assert await wallet.seqno() == 2
    assert len(chain.externals) == 2  # nothing was resent: each was included at once


async def test_five_concurrent_messages_go_in_two_externals(local: LocalChain) -> None:
    chain = LossyChain(local)
    wallet = wallet_on(chain, fund=5 * TON)
    values = [TON // 100 * (i + 1) for i in range(5)]
    await asyncio.gather(*(wallet.send(PAYEE, v, bounce=False) for v in values))
    assert [len(e.transfers) for e in externals_in(chain)] == [4, 1]
    assert payee_values(local) == values  # call order is kept
    assert await wallet.seqno() == 2


async def test_send_many_splits_into_batches_of_four(local: LocalChain) -> None:
    chain = LossyChain(local)
    wallet = wallet_on(chain, fund=5 * TON)
    await wallet.send_many([OutMessage(PAYEE, TON // 100, bounce=False)] * 9)
    assert [len(e.transfers) for e in externals_in(chain)] == [4, 4, 1]
    assert len(payee_values(local)) == 9


async def test_lost_external_is_resent_unchanged_until_the_seqno_moves(local: LocalChain) -> None:
    chain = LossyChain(local, lose=2)
    wallet = wallet_on(chain, fund=3 * TON)
    await wallet.send(PAYEE, TON // 10, bounce=False)
    assert len(chain.externals) == 3
    assert chain.externals[0].hash == chain.externals[1].hash == chain.externals[2].hash
    assert payee_values(local) == [TON // 10]  # applied exactly once
    assert await wallet.seqno() == 1


async def test_expired_external_is_signed_again_with_the_same_seqno(local: LocalChain) -> None:
    class Expiring(LossyChain):
        async def send_message(self, message: Cell) -> None:
            await super().send_message(message)
            if len(self.externals) == 1:
                self.chain.advance(3600)  # the dropped first copy is now past valid_until

    chain = Expiring(local, lose=1)
    wallet = wallet_on(chain, fund=3 * TON)
    await wallet.send(PAYEE, TON // 10, bounce=False)
    first, second = externals_in(chain)
    assert first.seqno == second.seqno == 0
    assert second.valid_until > first.valid_until
    assert payee_values(local) == [TON // 10]


async def test_gives_up_after_the_inclusion_timeout(local: LocalChain) -> None:
    clock = FakeClock()

    class SlowLossy(LossyChain):
        async def get_account(self, address: Address) -> AccountState:
            clock.advance(1.0)  # each poll of the wallet's state takes a second
            return await super().get_account(address)

    chain = SlowLossy(local, lose=10**6)
    key = WalletKey(b"\x12" * 32)
    local.fund(key.address, 3 * TON)
    timings = WalletTimings(
        resend_interval_s=30, poll_interval_s=0, inclusion_timeout_s=180, batch_window_s=0
    )
    wallet = NodeWallet(chain, key, timings, clock)
    with pytest.raises(ChainError, match="not included within 180 s"):
        await wallet.send(PAYEE, TON // 10)
    assert len(chain.externals) == 6  # sent at 0, 30, ..., 150 s; at 180 s the wallet gave up
    assert len({e.hash for e in chain.externals}) == 1  # resent unchanged: it never expired


async def test_start_refused_below_2_1_ton_with_amount_and_address(local: LocalChain) -> None:
    chain = AsyncLocalChain(local)
    wallet = wallet_on(chain, fund=2 * TON)
    with pytest.raises(WalletFundsError) as info:
        await wallet.ensure_funded()
    message = str(info.value)
    assert "needs at least 2.1 TON" in message
    assert "send at least 0.1 TON to " + wallet.friendly_address in message
    assert info.value.missing_nano == START_MINIMUM - 2 * TON
    local.fund(wallet.address, TON // 10)
    assert await wallet.ensure_funded() == START_MINIMUM


async def test_refuses_a_batch_the_wallet_cannot_pay(local: LocalChain) -> None:
    chain = LossyChain(local)
    wallet = wallet_on(chain, fund=3 * TON)
    with pytest.raises(WalletFundsError, match="cannot send 5 TON"):
        await wallet.send(PAYEE, 5 * TON)
    assert chain.externals == []  # refused before signing anything
    empty = wallet_on(AsyncLocalChain(LocalChain(None, now=START)))
    with pytest.raises(WalletFundsError, match="holds 0 TON"):
        await empty.send(PAYEE, 1)


async def test_close_fails_queued_messages(local: LocalChain) -> None:
    chain = LossyChain(local, lose=10**6)
    wallet = wallet_on(chain, fund=3 * TON)
    task = asyncio.create_task(wallet.send(PAYEE, TON // 10))
    await wait_until(lambda: chain.externals, what="the wallet sent its external")
    await wallet.close()
    with pytest.raises(ChainError, match="closed"):
        await asyncio.wait_for(task, 1)


async def test_a_flaky_api_does_not_fail_the_send(local: LocalChain) -> None:
    class Flaky(LossyChain):
        reads = 0

        async def get_account(self, address: Address) -> AccountState:
            self.reads += 1
            if self.reads == 2:  # the first poll after sending
                raise ChainError("cannot reach the TON API (simulated)")
            return await super().get_account(address)

    chain = Flaky(local)
    wallet = wallet_on(chain, fund=3 * TON)
    await wallet.send(PAYEE, TON // 10, bounce=False)
    assert chain.reads > 2 and payee_values(local) == [TON // 10]


async def test_a_blocked_wallet_says_how_to_unblock(local: LocalChain) -> None:
    chain = LossyChain(local)
    wallet = wallet_on(chain, fund=3 * TON)
    await wallet.deploy()
    assert await wallet.seqno() == 1
    local.send_internal(addr("owner"), wallet.address, TON // 10, text_cell("b"))
    with pytest.raises(ContractError, match=r"blocked by its owner.*'u'") as info:
        await wallet.send(PAYEE, TON // 10)
    assert info.value.exit_code == ExitCode.WALLET_BLOCKED

"""Closing a proxy contract on a real local chain (in process): the signed path and the owner's path,
exact refunds and last payouts, the delay waited out on the chain's clock, everything else to the owner,
and a restart in the middle that pays nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_onchain import (
    CLIENT_OWNER,
    FEE,
    PRICE,
    PROXY_OWNER,
    WORKER_OWNER,
    World,
    contract_data,
    record,
)

from cocoon.proxy.closing import Party, Phase, SendFinal
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.settlement import ProxySettlement
from cocoon.proxy.settlement.closer import CLOSED_REFUSAL, REFUSAL
from cocoon.ton import messages as m
from cocoon.ton.data import ClientData, ProxyData, WorkerData
from cocoon.ton.ops import TON


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def until(s: ProxySettlement, phase: Phase, ticks: int = 20) -> None:
    for _ in range(ticks):
        await s.tick()
        if s.closer.decision.phase is phase:
            return
    raise AssertionError(f"still {s.closer.decision.phase} after {ticks} ticks: {s.close_status()}")


def proxy_state(world: World, s: ProxySettlement) -> ProxyData:
    return ProxyData.from_cell(contract_data(world, s.contract))


async def test_the_signed_close_refunds_pays_waits_and_completes_exactly(world: World) -> None:
    s = await world.started()
    client = world.open_client(s.contract, 3 * TON)
    worker = world.open_worker(s.contract)
    record(s.ledger, s, "a", 1000)
    await s.force()  # 1000 tokens charged and paid as usual
    record(s.ledger, s, "b", 700)  # used, not charged yet: the close charges it
    assert s.refusal is None

    status = s.request_close()
    assert status["phase"] == "requesting" and status["requested"]
    assert s.refusal == REFUSAL  # no new requests from the moment it is asked
    assert s.store.close_requested  # persisted before anything is sent
    await until(s, Phase.WAITING)

    total = 1700
    closed = ClientData.from_cell(contract_data(world, client))
    assert (closed.state, closed.tokens_used, closed.balance) == (2, total, 0)
    assert world.sender.paid_to(CLIENT_OWNER) == 3 * TON - total * PRICE  # exactly what was left
    paid = WorkerData.from_cell(contract_data(world, worker))
    assert (paid.state, paid.tokens) == (2, total)
    assert world.sender.paid_to(WORKER_OWNER) == total * FEE  # exactly what it was owed
    proxy = proxy_state(world, s)
    assert proxy.state == 1 and proxy.balance == 700 * (PRICE - FEE)  # the commission since the withdrawal
    left = s.close_status()["seconds_left"]
    assert left == world.params.proxy_delay_before_close

    world.local.advance(left - 1)
    await s.tick()
    assert s.close_status()["seconds_left"] == 1 and proxy_state(world, s).state == 1  # not a second early
    world.local.advance(1)
    before = world.local.account(s.contract).balance
    owner_before = world.sender.paid_to(PROXY_OWNER)
    await until(s, Phase.CLOSED)
    assert proxy_state(world, s).state == 2 and world.local.account(s.contract).balance == 0
    received = world.sender.paid_to(PROXY_OWNER) - owner_before
    # everything the contract held: commission + stake + its reserve and the change of the complete
    # message, less that transaction's fees (and the forward fee of the payout, < 0.001 TON)
    tx = next(t for t in world.sender.traces[-1] if t.account == s.contract)
    assert tx.in_msg is not None
    assert proxy.balance + proxy.stake < received <= before + tx.in_msg.value - tx.total_fees
    assert before + tx.in_msg.value - tx.total_fees - received < TON // 1000
    assert s.close_status()["closed"] and s.refusal == CLOSED_REFUSAL

    # a copy of a final message delivered late moves nothing: the contracts are closed
    paid = world.sender.paid_to(CLIENT_OWNER), world.sender.paid_to(WORKER_OWNER)
    again = [
        SendFinal(Party(c, o, True, 0, 0, total), total)
        for c, o in ((True, CLIENT_OWNER.raw), (False, WORKER_OWNER.raw))
    ]
    await s.closer._do(tuple(again))
    assert (world.sender.paid_to(CLIENT_OWNER), world.sender.paid_to(WORKER_OWNER)) == paid


async def test_the_owners_close_is_closed_through_and_a_restart_pays_nothing_twice(world: World) -> None:
    s = await world.started()
    world.open_client(s.contract, 2 * TON)
    world.open_worker(s.contract)
    record(s.ledger, s, "a", 5000)
    await s.tick(force=True)  # committed, not charged: the thresholds are not reached
    body = m.OwnerProxyClose(query_id=7, excess_to=PROXY_OWNER).to_cell()
    world.local.send_internal(PROXY_OWNER, s.contract, TON // 5, body)
    assert proxy_state(world, s).state == 1
    await s.tick(force=True)
    assert s.refusal == REFUSAL and s.close_status()["phase"] != "open"  # seen on chain, not asked here
    await until(s, Phase.WAITING)
    refund, payout = world.sender.paid_to(CLIENT_OWNER), world.sender.paid_to(WORKER_OWNER)
    assert (refund, payout) == (2 * TON - 5000 * PRICE, 5000 * FEE)
    s.ledger.close()

    again = await world.started(b"\x02" * 32)  # a restart in the middle of the close
    assert again.refusal == REFUSAL
    await until(again, Phase.WAITING)
    assert (world.sender.paid_to(CLIENT_OWNER), world.sender.paid_to(WORKER_OWNER)) == (refund, payout)
    world.local.advance(world.params.proxy_delay_before_close)
    await until(again, Phase.CLOSED)
    assert proxy_state(world, again).state == 2
    assert (world.sender.paid_to(CLIENT_OWNER), world.sender.paid_to(WORKER_OWNER)) == (refund, payout)


async def test_a_crash_after_the_close_request_resumes_and_waits_for_running_requests(world: World) -> None:
    s = await world.started()
    world.open_client(s.contract, 2 * TON)
    world.open_worker(s.contract)
    record(s.ledger, s, "a", 300)
    s.request_close()
    await s.tick()  # the close request is sent (and lands: the local chain runs it at once)
    assert s.closer.decision.phase is Phase.REQUESTING
    assert proxy_state(world, s).state == 1 and world.sender.paid_to(CLIENT_OWNER) == 0
    s.ledger.close()  # the process dies here

    again = world.settlement(Ledger(world.db), b"\x02" * 32)
    assert again.closer.active  # from the persisted request, before the chain is even read
    again.closer.requests_running = lambda: 1  # an answer still streaming: its tokens are not counted yet
    await again.start()
    await again.wait_ready(5)
    assert again.refusal == REFUSAL
    for _ in range(3):
        await again.tick()
    assert again.closer.decision.phase is Phase.SETTLING and world.sender.paid_to(CLIENT_OWNER) == 0
    record(again.ledger, again, "b", 200)  # it finished
    again.closer.requests_running = lambda: 0
    await until(again, Phase.WAITING)
    assert world.sender.paid_to(CLIENT_OWNER) == 2 * TON - 500 * PRICE
    assert world.sender.paid_to(WORKER_OWNER) == 500 * FEE

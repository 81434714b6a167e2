"""Leaving a proxy on a real local chain (in process, our FunC contracts on the TON emulator), with
exact balances: a worker whose proxy closes submits its latest signed payout and its last payout and
stops using the proxy; a root params change moves client and worker to new contracts (new
addresses), the old client contract's balance comes back to the client owner, and a request after
the change is charged at the new price."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from test_channels_onchain import CLIENT_WALLET, KEY, WORKER_WALLET, Parties
from test_onchain import FAST, PRICE, PROXY_OWNER, SECRET, World, addr

from cocoon.client.payments import ClientPayments
from cocoon.client.retire import refund_delay_s
from cocoon.errors import PaymentError
from cocoon.node.params_move import ParamsFollower
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.proxy.settlement import ProxySettlement
from cocoon.registry.reader import read_registry
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData, ProxyData, WorkerData
from cocoon.ton.ops import TON, Op
from cocoon.ton.signed import sign_request
from cocoon.usage import Usage
from cocoon.wire.control import RegisterClient
from cocoon.wire.messages import PaymentUpdate
from cocoon.worker.payouts import WorkerPayouts

FEE = 19
NEW_PRICE, NEW_FEE = 31, 29
PROXY_ADDRESS = "127.0.0.1:1"


class LinkDouble:
    """A live connection to the proxy as the payouts see it (``ProxyConnection``), recording calls."""

    def __init__(self) -> None:
        self.proxy = PROXY_ADDRESS
        self.left: list[str] = []
        self.closed: list[str] = []

    async def leave(self, why: str) -> None:
        self.left.append(why)

    def close(self, why: str) -> None:
        self.closed.append(why)


def data_of(parties: Parties, address: Address) -> Any:
    state = parties.world.local.account(address)
    assert state.data is not None
    return state.data


def worker_paid(parties: Parties) -> int:
    """Everything paid to the worker's owner: by the worker's own submissions and the proxy's."""
    return parties.worker_sender.paid_to(WORKER_WALLET) + parties.world.sender.paid_to(WORKER_WALLET)


@pytest.fixture
async def parties(tmp_path: Path) -> Parties:
    p = Parties(World(tmp_path), tmp_path)
    await p.start()
    return p


async def test_a_worker_whose_proxy_closes_gets_exactly_what_it_served(
    parties: Parties, caplog: pytest.LogCaptureFixture
) -> None:
    served = sum(parties.request(f"r{i}", 200 * i, 40) for i in range(1, 4))
    await parties.commit()
    proxy = parties.settlement.contract
    worker = parties.worker
    worker.on_update(proxy.raw, parties.update(WORKER_CHANNEL, WORKER_WALLET.raw))
    link = LinkDouble()
    worker.links[proxy.raw] = link
    assert await worker.watch_proxies() == 0 and worker_paid(parties) == 0  # open: nothing to do

    # the proxy closes its contract (signed with its key, as `cocoon proxy close` does)
    close = sign_request(SECRET, Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, query_id=7, target=proxy)
    parties.world.local.send_internal(PROXY_OWNER, proxy, TON // 2, close.to_cell())
    assert ProxyData.from_cell(data_of(parties, proxy)).state == 1
    with caplog.at_level(logging.WARNING, logger="cocoon.worker.payouts"):
        assert await worker.watch_proxies() == 1
    assert "is closing" in caplog.text and "submitting its latest signed payout" in caplog.text
    assert worker_paid(parties) == served * FEE  # submitted at once, not at a threshold
    assert worker.gives_up(PROXY_ADDRESS) and "closing" in link.left[0]
    assert not link.closed  # still connected: the proxy's last payout may come
    with pytest.raises(PaymentError, match="closing"):
        await worker.attach(proxy, KEY)  # and never attached again while it closes

    # the proxy then sends its signed last payout for everything it committed (here 1000 more)
    channel = worker.channels[proxy.raw]
    final = served + 1000
    last = sign_request(
        SECRET,
        Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED,
        query_id=9,
        target=channel.contract,
        new_tokens=final,
    )
    forged = sign_request(
        b"\x07" * 32,
        Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED,
        query_id=9,
        target=channel.contract,
        new_tokens=final,
    )
    bad = PaymentUpdate(WORKER_WALLET.raw, final, final, final, forged.to_cell().to_boc())
    with pytest.raises(PaymentError, match="not valid"):
        worker.on_update(proxy.raw, bad)
    worker.on_update(
        proxy.raw, PaymentUpdate(WORKER_WALLET.raw, final, final, final, last.to_cell().to_boc())
    )
    assert channel.signed_final and worker.wake.is_set()
    assert await worker.cash_out() == 1  # a last payout goes out whatever the thresholds
    assert worker_paid(parties) == final * FEE
    data = WorkerData.from_cell(data_of(parties, channel.contract))
    assert (data.state, data.tokens) == (2, final)  # the last payout closed our worker contract
    assert await worker.cash_out(force=True) == 0  # nothing left to claim
    assert await worker.watch_proxies() == 0 and link.closed  # settled: the connection is closed
    lower = sign_request(
        SECRET,
        Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED,
        query_id=10,
        target=channel.contract,
        new_tokens=final + 5,
    )
    with pytest.raises(PaymentError, match="after its final"):
        worker.on_update(
            proxy.raw,
            PaymentUpdate(WORKER_WALLET.raw, final + 5, final + 5, final + 5, lower.to_cell().to_boc()),
        )


async def test_a_restarted_worker_submits_the_payout_it_saved_for_a_closing_proxy(
    parties: Parties, tmp_path: Path
) -> None:
    served = parties.request("r1", 700, 90)
    await parties.commit()
    proxy = parties.settlement.contract
    parties.worker.on_update(proxy.raw, parties.update(WORKER_CHANNEL, WORKER_WALLET.raw))  # on disk
    close = sign_request(SECRET, Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, query_id=8, target=proxy)
    parties.world.local.send_internal(PROXY_OWNER, proxy, TON // 2, close.to_cell())
    # the worker restarts (a new process: only payouts.json is left) and the proxy is closing
    restarted = WorkerPayouts(
        parties.world.chain, parties.worker_sender, parties.world.params, state_path=tmp_path / "payouts.json"
    )
    with pytest.raises(PaymentError, match="closing"):
        await restarted.attach(proxy, KEY, PROXY_ADDRESS)
    assert worker_paid(parties) == served * FEE  # what it had been told is not lost
    assert restarted.gives_up(PROXY_ADDRESS)


async def change_fees(world: World, price: int, fee: int) -> None:
    body = m.ChangeFees(query_id=3, price_per_token=price, worker_fee_per_token=fee).to_cell()
    world.local.send_internal(addr("root-owner"), world.root, TON, body)


async def test_a_params_change_moves_client_and_worker_to_new_contracts(
    parties: Parties, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world, client, worker = parties.world, parties.client, parties.worker
    old_proxy = parties.settlement.contract
    charged = parties.request("a", 300, 60)
    await parties.commit()
    await parties.settlement.force()  # charges the client and pays the worker for "a"
    assert worker_paid(parties) == charged * FEE
    unpaid = parties.request("b", 500, 100)  # committed and signed, below every payout threshold
    await parties.commit()
    worker.on_update(old_proxy.raw, parties.update(WORKER_CHANNEL, WORKER_WALLET.raw))
    client.on_update(old_proxy.raw, parties.update(CLIENT_CHANNEL, CLIENT_WALLET.raw))
    old_client = client.channels[old_proxy.raw].contract
    old_worker = worker.channels[old_proxy.raw].contract
    balance = ClientData.from_cell(data_of(parties, old_client)).balance
    assert balance == TON - charged * PRICE

    before = await read_registry(world.chain, world.root)

    async def move(snapshot: RegistrySnapshot, why: str) -> None:  # what each node's move does
        await worker.move_to(snapshot.chain_params, why)
        await client.move_to(snapshot.chain_params, why)

    client.retiring_path = tmp_path / "retiring.json"
    follower = ParamsFollower(before, move)
    follower.on_change(before)
    assert not await follower.step()  # the same params: nothing moves
    await change_fees(world, NEW_PRICE, NEW_FEE)
    after = await read_registry(world.chain, world.root)
    assert after.params_version == before.params_version + 1
    follower.on_change(after)
    with caplog.at_level(logging.WARNING):
        assert await follower.step()
    assert f"params_version rose {before.params_version} -> {after.params_version}" in caplog.text
    assert f"price {PRICE} -> {NEW_PRICE}" in caplog.text

    # the worker submitted its latest signed payout on the old worker contract before moving
    assert worker_paid(parties) == (charged + unpaid) * FEE
    assert WorkerData.from_cell(data_of(parties, old_worker)).tokens == charged + unpaid
    with pytest.raises(PaymentError, match=r"params version|left"):
        await worker.attach(old_proxy, KEY)  # the old proxy contract is not served again

    # the old client contract: the proxy grants no refund here (it does not follow the change yet),
    # so the client asks for it after 0.5 * (proxy_delay - client_delay) and closes after unlock_ts
    delay = refund_delay_s(before.params)
    assert delay == (world.params.proxy_delay_before_close - world.params.client_delay_before_close) // 2
    # the client restarts (a new process: only retiring.json is left) and carries on
    client = ClientPayments(
        world.chain,
        parties.client_sender,
        after.chain_params,
        b"\x09" * 32,
        retiring_path=tmp_path / "retiring.json",
    )
    assert list(client.retiring) == [old_client.raw]
    assert await client.retire_round() == 0  # too early: the proxy may still grant it
    world.local.advance(delay)
    assert await client.retire_round() == 1
    closing = ClientData.from_cell(data_of(parties, old_client))
    assert closing.state == 1
    assert await client.retire_round() == 0  # locked until unlock_ts
    world.local.advance(closing.unlock_ts - world.local.now)
    assert await client.retire_round() == 1
    assert ClientData.from_cell(data_of(parties, old_client)).state == 2
    assert await client.retire_round() == 0 and not client.retiring
    assert json.loads((tmp_path / "retiring.json").read_text()) == []
    assert parties.client_sender.paid_to(CLIENT_WALLET) == balance  # exactly its balance came back

    # the proxy redeploys under the new params (as it must on a params change): a new proxy contract
    ledger = Ledger(tmp_path / "new-state.db")
    new = ProxySettlement(
        world.chain,
        world.sender,
        ledger,
        SECRET,
        PROXY_OWNER,
        world.root,
        after.chain_params,
        FAST,
        session_hash=b"\x02" * 32,
    )
    await new.start()
    await new.wait_ready(5)
    assert new.contract != old_proxy
    with pytest.raises(PaymentError, match="params version"):
        await client.open(old_proxy, KEY)
    channel = await client.open(new.contract, KEY)
    attached = await worker.attach(new.contract, KEY)
    assert channel.contract != old_client and attached.contract != old_worker  # new addresses
    secret = client.secret_for(new.contract)
    answer = await new.register_client("cid2", RegisterClient(CLIENT_WALLET.raw, secret), None)
    assert answer.deployed
    book = ClientBook(ledger, new.params, new)
    book.reserve("c", "cid2", 100, 100, 1000)
    tokens = book.record(
        "c", Usage(prompt_tokens=400, completion_tokens=80), 1000, "w1", WORKER_WALLET.raw, 0.0
    )
    await new.force()
    data = ClientData.from_cell(data_of(parties, channel.contract))
    assert (data.tokens_used, data.balance) == (
        tokens.adjusted_tokens,
        TON - tokens.adjusted_tokens * NEW_PRICE,
    )
    assert worker_paid(parties) == (charged + unpaid) * FEE + tokens.adjusted_tokens * NEW_FEE

"""The proxy's settlement on a real local chain (in process): commit notes, charges, payouts, commission,
restart from the latest database, and refusal to serve from an older copy of it."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.errors import ChainError, StateRollbackError
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger, RequestCharge
from cocoon.proxy.settlement import ProxySettlement, SettlementConfig
from cocoon.ton import data
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell
from cocoon.ton.chain import Transaction
from cocoon.ton.data import ClientData, ProxyData, WorkerData
from cocoon.ton.ops import TON, Op
from cocoon.ton.params import Params, make_params
from cocoon.ton.signed import public_key_of
from cocoon.wallet.sender import BatchSender, OutMessage

START = 1_750_000_000
SECRET = b"\x05" * 32
PRICE, FEE = 20, 19
FAST = SettlementConfig(flush_interval_s=0, note_interval_s=0, settle_interval_s=0, tick_s=0)


def addr(tag: str) -> Address:
    return Address(0, hashlib.sha256(tag.encode()).digest())


PROXY_OWNER, PROXY_WALLET = addr("proxy-owner"), addr("proxy-wallet")
CLIENT_OWNER, WORKER_OWNER = addr("client-owner"), addr("worker-owner")


class FaucetSender(BatchSender):
    """A ``MessageSender`` test double: injects each message from a fixed address (not debited)."""

    def __init__(self, chain: LocalChain, address: Address) -> None:
        super().__init__(address)
        self.chain = chain
        self.traces: list[list[Transaction]] = []

    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        for msg in messages:
            trace = self.chain.send_internal(
                self.address, msg.dest, msg.value, msg.body, bounce=msg.bounce, state_init=msg.state_init
            )
            self.traces.append(trace)

    def paid_to(self, dest: Address) -> int:
        """nanoTON of every ``payout`` message to ``dest`` in the traces so far."""
        return sum(
            msg.value
            for trace in self.traces
            for tx in trace
            for msg in tx.out_msgs
            if msg.dest == dest and msg.op == Op.PAYOUT
        )


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.local = LocalChain(None, now=START)
        self.chain = AsyncLocalChain(self.local)
        self.params: Params = make_params(
            proxy_code=contract_code("proxy"),
            worker_code=contract_code("worker"),
            client_code=contract_code("client"),
            price_per_token=PRICE,
            worker_fee_per_token=FEE,
        )
        init = data.root_state_init(contract_code("root"), addr("root-owner"), self.params)
        self.root = self.local.deploy(*init, TON)
        self.sender = FaucetSender(self.local, PROXY_WALLET)
        self.db = tmp_path / "state.db"
        self.key = int.from_bytes(public_key_of(SECRET), "big")

    def settlement(self, ledger: Ledger, session: bytes = b"\x01" * 32) -> ProxySettlement:
        return ProxySettlement(
            self.chain,
            self.sender,
            ledger,
            SECRET,
            PROXY_OWNER,
            self.root,
            self.params,
            FAST,
            session_hash=session,
        )

    async def started(self, session: bytes = b"\x01" * 32) -> ProxySettlement:
        """A settlement on a fresh ledger of this world's database, started and ready."""
        s = self.settlement(Ledger(self.db), session)
        await s.start()
        await s.wait_ready(5)
        return s

    def open_client(self, proxy: Address, top_up: int) -> Address:
        init = data.client_state_init(CLIENT_OWNER, proxy, self.key, self.params)
        client = self.local.deploy(*init, 8 * TON // 10)
        body = m.ExtClientTopUp(query_id=1, amount=top_up, excess_to=CLIENT_OWNER).to_cell()
        self.local.send_internal(CLIENT_OWNER, client, top_up + TON // 2, body)
        return client

    def open_worker(self, proxy: Address) -> Address:
        init = data.worker_state_init(WORKER_OWNER, proxy, self.key, self.params)
        worker = self.local.deploy(*init, 3 * TON // 10)
        body = m.OwnerWorkerRegister(query_id=1, excess_to=WORKER_OWNER).to_cell()
        self.local.send_internal(WORKER_OWNER, worker, TON // 2, body)
        return worker


def record(ledger: Ledger, settlement: ProxySettlement, request_id: str, tokens: int) -> None:
    charge = RequestCharge(
        request_id=request_id,
        client_id="client-key",
        worker_id="worker-key",
        worker_owner=WORKER_OWNER.raw,
        adjusted_tokens=tokens,
        client_cost_nano=tokens * PRICE,
        worker_earned_nano=tokens * FEE,
        client_owner=CLIENT_OWNER.raw,
        contract=settlement.scope,
    )
    assert ledger.record(charge, finished_at=0.0)
    settlement.on_recorded(CLIENT_OWNER.raw, WORKER_OWNER.raw, tokens)


def contract_data(world: World, address: Address) -> Cell:
    state = world.local.account(address)
    assert state.data is not None
    return state.data


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def test_start_deploys_stakes_and_confirms_the_start_note(world: World) -> None:
    ledger = Ledger(world.db)
    s = world.settlement(ledger)
    await s.start()
    assert not s.ready
    await s.wait_ready(5)
    proxy = ProxyData.from_cell(contract_data(world, s.contract))
    assert proxy.stake == world.params.min_proxy_stake
    assert s.pipeline.committed_seqno == 1 and s.store.pending() == {}


async def test_credit_charge_payout_and_commission_are_exact(world: World) -> None:
    ledger = Ledger(world.db)
    s = world.settlement(ledger)
    await s.start()
    await s.wait_ready(5)
    client = world.open_client(s.contract, 3 * TON)
    worker = world.open_worker(s.contract)
    await s.tick()
    # balance 3 TON = 150M tokens, stake 1 TON = 50M tokens: the stake bounds uncharged usage
    assert s.available(CLIENT_OWNER.raw, 0) == 50_000_000
    sizes = [1500, 2700, 333, 10_000]
    for i, tokens in enumerate(sizes):
        record(ledger, s, f"r{i}", tokens)
    total = sum(sizes)
    assert s.available(CLIENT_OWNER.raw, 100) == 50_000_000 - 100 - total
    assert s.channels.counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).committed_to_chain == 0
    assert s.signer.signed_payment(CLIENT_CHANNEL, CLIENT_OWNER.raw) is None  # nothing chain-committed yet

    await s.force()
    await s.tick()
    assert s.channels.counters(WORKER_CHANNEL, WORKER_OWNER.raw).committed_to_chain == total
    charged = ClientData.from_cell(contract_data(world, client))
    assert (charged.tokens_used, charged.balance) == (total, 3 * TON - total * PRICE)
    assert WorkerData.from_cell(contract_data(world, worker)).tokens == total
    assert world.sender.paid_to(WORKER_OWNER) == total * FEE
    await s.tick()
    assert s.counterparts.clients[CLIENT_OWNER.raw].sc_tokens_used == total  # learned from the forwarded note
    # the commission stays in the proxy contract until withdrawn; force withdraws it to the owner
    assert world.sender.paid_to(PROXY_OWNER) == total * (PRICE - FEE)
    assert ProxyData.from_cell(contract_data(world, s.contract)).balance == 0
    assert s.signer.signed_payment(CLIENT_CHANNEL, CLIENT_OWNER.raw) is not None


async def test_a_second_charge_moves_only_the_difference(world: World) -> None:
    ledger = Ledger(world.db)
    s = world.settlement(ledger)
    await s.start()
    await s.wait_ready(5)
    client = world.open_client(s.contract, 3 * TON)
    world.open_worker(s.contract)
    record(ledger, s, "a", 1000)
    await s.force()
    record(ledger, s, "b", 500)
    await s.force()
    charged = ClientData.from_cell(contract_data(world, client))
    assert (charged.tokens_used, charged.balance) == (1500, 3 * TON - 1500 * PRICE)
    assert world.sender.paid_to(WORKER_OWNER) == 1500 * FEE


async def test_restart_on_the_latest_database_keeps_counters_and_serves(world: World) -> None:
    ledger = Ledger(world.db)
    s = world.settlement(ledger)
    await s.start()
    await s.wait_ready(5)
    world.open_client(s.contract, 3 * TON)
    record(ledger, s, "a", 1000)
    s.committer.flush()
    await s.tick(force=True)  # a note is sent; the process "crashes" before reading it
    ledger.close()

    ledger = Ledger(world.db)
    again = world.settlement(ledger, session=b"\x02" * 32)
    assert again.channels.counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).tokens_max == 1000
    await again.start()
    await again.wait_ready(5)  # the previous session's pending note is recognised, not refused
    assert again.channels.counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).committed_to_chain == 1000


async def test_an_older_copy_of_the_database_refuses_to_serve(world: World, tmp_path: Path) -> None:
    ledger = Ledger(world.db)
    s = world.settlement(ledger)
    await s.start()
    await s.wait_ready(5)
    world.open_client(s.contract, 3 * TON)
    record(ledger, s, "a", 1000)
    await s.force()
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as backup:
        ledger.connection.backup(backup)
    record(ledger, s, "b", 2000)
    await s.force()  # later commits reach the chain
    ledger.close()

    restored = world.settlement(Ledger(old), session=b"\x03" * 32)
    await restored.start()
    with pytest.raises(StateRollbackError, match="older copy of its database"):
        await restored.wait_ready(5)
    assert restored.refused is not None and not restored.ready


async def test_a_clone_with_the_same_key_is_refused(world: World, tmp_path: Path) -> None:
    ledger = Ledger(world.db)
    s = world.settlement(ledger)
    await s.start()
    await s.wait_ready(5)
    clone_db = tmp_path / "clone.db"
    with sqlite3.connect(clone_db) as backup:
        ledger.connection.backup(backup)
    clone = world.settlement(Ledger(clone_db), session=b"\x04" * 32)
    await clone.start()
    await clone.wait_ready(5)  # the clone sees only its own note so far
    record(ledger, s, "x", 10)
    await s.tick(force=True)  # the original reads the clone's start note: a seqno it never issued
    assert s.refused is not None and "another instance" in s.refused
    assert not s.ready
    with pytest.raises(StateRollbackError):
        await s.force()


class NotesLost(FaucetSender):
    """Delivers everything but the 1-nanoTON save-state notes (as if the chain never took them)."""

    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        await super().send_many([msg for msg in messages if msg.value > 1])


async def test_a_start_note_that_never_lands_is_a_clear_chain_error(world: World) -> None:
    world.sender = NotesLost(world.local, PROXY_WALLET)
    s = world.settlement(Ledger(world.db))
    await s.start()
    with pytest.raises(ChainError, match=r"start note did not appear on chain within 0\.3 s"):
        await s.wait_ready(0.3)
    assert not s.ready

"""The settlement façade on a local chain (in process): payment updates pushed to bound clients and
connected workers (a failed send is retried, never recorded as sent), and the injected clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_channels_onchain import CLIENT_WALLET, WORKER_WALLET, Parties
from test_onchain import CLIENT_OWNER, PROXY_OWNER, SECRET, World, record

from cocoon.clock import FakeClock
from cocoon.errors import ConnectionClosedError
from cocoon.proxy.ledger import CLIENT_CHANNEL, Ledger
from cocoon.proxy.settlement import ProxySettlement, SettlementConfig
from cocoon.wire.control import RegisterClient
from cocoon.wire.messages import PaymentUpdate, WorkerState


class Peer:
    """A connection that takes payment updates; the first ``failures`` sends raise as a closing one does."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[PaymentUpdate] = []

    async def send_payment_update(self, update: PaymentUpdate) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionClosedError("peer went away")
        self.received.append(update)


@dataclass
class Worker:
    """A connected worker as the registry holds it."""

    worker_id: str
    conn: Peer
    state: WorkerState | None = field(
        default_factory=lambda: WorkerState(True, "model", 1000, 4, 0, owner=WORKER_WALLET.raw)
    )


@pytest.fixture
async def parties(tmp_path: Path) -> Parties:
    p = Parties(World(tmp_path), tmp_path)
    await p.start()
    return p


async def bind(parties: Parties, client_id: str, conn: Peer) -> None:
    secret = parties.client.secret_for(parties.settlement.contract)
    await parties.settlement.register_client(client_id, RegisterClient(CLIENT_WALLET.raw, secret), conn)


async def test_a_failed_push_is_sent_again_and_the_client_gets_its_signed_charge(
    parties: Parties, caplog: pytest.LogCaptureFixture
) -> None:
    peer = Peer(failures=1)
    await bind(parties, "cid", peer)
    tokens = parties.request("r1", 300, 100)
    await parties.commit()
    s = parties.settlement

    with caplog.at_level(logging.WARNING, logger="cocoon.proxy.settlement"):
        await s.push([])
    assert peer.received == [] and s.counters.updates_failed == 1
    assert "not sent to client cid" in caplog.text and "peer went away" in caplog.text

    await s.push([])  # the next push sends the update again: it was never recorded as sent
    (update,) = peer.received
    assert update.committed_to_chain == tokens and update.signed_payment is not None
    assert update.signed_payment == s.signer.signed_payment(CLIENT_CHANNEL, CLIENT_WALLET.raw)
    assert s.counters.updates_sent == 1

    await s.push([])  # delivered and nothing moved: not sent a third time
    assert len(peer.received) == 1 and s.updates.update_for(CLIENT_CHANNEL, CLIENT_WALLET.raw) is None


async def test_every_connection_of_a_worker_owner_gets_the_update_even_if_one_send_fails(
    parties: Parties,
) -> None:
    total = parties.request("r1", 200, 50)
    await parties.commit()
    steady, flaky = Worker("w1", Peer()), Worker("w2", Peer(failures=1))
    idle = Worker("w3", Peer(), state=None)  # connected, no offer yet: no owner to push for
    s = parties.settlement
    await s.push([steady, flaky, idle])
    assert flaky.conn.received == [] and len(steady.conn.received) == 1
    await s.push([steady, flaky, idle])
    assert [u.committed_to_chain for u in flaky.conn.received] == [total]
    assert len(steady.conn.received) == 2  # sent again with the failed one: updates are cumulative
    assert idle.conn.received == []
    await s.push([steady, flaky, idle])
    assert (len(steady.conn.received), len(flaky.conn.received)) == (2, 1)


async def test_two_clients_of_one_contract_both_get_updates_until_one_disconnects(parties: Parties) -> None:
    first, second = Peer(), Peer()
    await bind(parties, "c1", first)
    await bind(parties, "c2", second)
    s = parties.settlement
    await s.push([])
    assert len(first.received) == len(second.received) == 1
    s.forget_client("c2", second)
    tokens = parties.request("r2", 100, 100)
    await s.push([])
    assert [u.tokens_max for u in first.received] == [0, tokens]
    assert len(second.received) == 1
    assert s.owner_of("c2") == CLIENT_WALLET.raw  # the binding stays for its next connection


async def test_the_settlement_flushes_on_the_clock_it_is_given(world: World) -> None:
    clock = FakeClock()
    config = SettlementConfig(flush_interval_s=10, note_interval_s=1e9, settle_interval_s=1e9, tick_s=0)
    ledger = Ledger(world.db)
    s = ProxySettlement(
        world.chain, world.sender, ledger, SECRET, PROXY_OWNER, world.root, world.params, config, clock=clock
    )
    await s.start()
    await s.wait_ready(5)  # the first tick flushes: nothing flushed yet
    record(ledger, s, "a", 100)
    await s.tick()
    counters = s.channels.counters
    assert counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).committed_to_db == 0  # 0 s since the last flush
    clock.advance(9.5)
    await s.tick()
    assert counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).committed_to_db == 0
    clock.advance(0.5)
    await s.tick()
    assert counters(CLIENT_CHANNEL, CLIENT_OWNER.raw).committed_to_db == 100


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)

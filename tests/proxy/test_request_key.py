"""The key of a routed request (its reservation, its ledger row): unique, and ordered by the proxy's
sequence within a client, across restarts too, so the ledger appends each client's rows in order
instead of scattering them by the client's random request ids."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import cast

from recording_writer import RecordingWriter
from test_whole_answer_write import MODEL, Worker

from cocoon.clock import FakeClock
from cocoon.net.rpc import RpcConnection
from cocoon.payments.params import NetworkParams
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.routing import Router, request_key
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.wire.messages import RunQuery, WorkerState


def test_a_clients_keys_sort_by_the_sequence_whatever_the_request_ids() -> None:
    rng = random.Random(7)
    keys = [request_key("client", sequence, rng.getrandbits(63)) for sequence in range(1, 2000, 7)]
    assert sorted(keys) == keys and len(set(keys)) == len(keys)
    # two clients' requests with the same sequence and request id are still two keys
    assert request_key("a", 5, 9) != request_key("b", 5, 9)
    assert request_key("a", 5, 9) != request_key("a", 5, 10)


async def _route(router: Router, request_ids: list[int]) -> None:
    for request_id in request_ids:
        query = RunQuery(request_id, MODEL, b"{}", 10**6, 16, 0, client_request_id=f"r{request_id}")
        await router.handle("c", query, RecordingWriter())


def _router(ledger: Ledger, clock: FakeClock) -> Router:
    pool = WorkerPool()
    link = WorkerLink("w", cast(RpcConnection, Worker(True, (("content-type", "application/json"),))), "img")
    link.state = WorkerState(True, MODEL, 1000, 4, 0, "", 0, ("/v1/chat/completions",))
    pool.add(link)
    return Router(pool, ClientBook(ledger, NetworkParams()), "p", clock=clock)


async def test_the_ledger_gets_each_clients_rows_in_routing_order_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    ledger.ensure_client("c", 10**15)
    clock = FakeClock()
    rng = random.Random(3)
    first = [rng.getrandbits(63) for _ in range(5)]
    await _route(_router(ledger, clock), first)
    clock.advance(1)  # a restarted proxy: a new router, a second later
    second = [rng.getrandbits(63) for _ in range(5)]
    await _route(_router(ledger, clock), second)
    ledger.close()
    with sqlite3.connect(path) as db:
        keys = [row[0] for row in db.execute("SELECT request_id FROM requests ORDER BY request_id")]
    assert [int(key.rsplit(":", 1)[1]) for key in keys] == first + second

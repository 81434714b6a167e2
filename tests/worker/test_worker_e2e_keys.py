"""A worker's end-to-end keys: made at each certificate issue, published in its statement, held in
memory only, offered to every proxy in its `WorkerState` again after each re-issue, and counted."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_serve_e2e import WALL, Worker, e2e_worker, seal, serve
from worker_fakes import Sink, query

from cocoon.api.validation import Limits
from cocoon.attestation.certificate import parse_certificate
from cocoon.attestation.statement import Statement, verify_statement
from cocoon.clock import FakeClock
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.suite import SUITE, key_id
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.engine.memory import MemoryEngine
from cocoon.node.admission import ConfigAllowlist, WorkerAdmission
from cocoon.node.identity import make_identity, node_identity
from cocoon.node.policy import make_policy
from cocoon.node.running import NodeDeps
from cocoon.roles import WorkerConfig
from cocoon.wire.messages import WorkerState
from cocoon.worker.attest import attest_worker
from cocoon.worker.build import WorkerDeps, build_worker
from cocoon.worker.serve import RequestServer
from cocoon.worker.service import WorkerService, make_stats_app


def _statement(der: bytes, now: float) -> Statement:
    cert = parse_certificate(der, now)
    return verify_statement(cert.statement, cert.public_key)


def test_a_fresh_worker_certificate_publishes_its_key_in_the_statement(tmp_path: Path) -> None:
    clock = FakeClock(wall=WALL)
    config = WorkerConfig(data_dir=str(tmp_path))
    identity = node_identity(config, NodeDeps(clock=clock), keyring=Keyring(os.urandom))
    attest_worker(identity, config, FAKE_MODEL, clock)
    statement = _statement(identity.certificate.der, WALL)
    assert statement.has_e2e_key and statement.e2e_suite == SUITE
    assert statement.e2e_key_id == key_id(statement.e2e_kem_pk)
    assert statement.e2e_not_after == int(WALL) + 2 * 3600  # the current period and the overlap
    assert identity.keyring is not None and identity.keyring.current is not None
    assert identity.keyring.current.key_id == statement.e2e_key_id

    # the HPKE private key is in memory only: nothing written under the data dir holds it
    private = identity.keyring.current.private_key
    written = [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    assert written and not any(private in data for data in written)


def test_nodes_without_a_keyring_publish_no_key() -> None:
    identity = make_identity("", "fake")
    attest_worker(identity, WorkerConfig(), FAKE_MODEL)
    assert identity.keyring is None
    assert not verify_statement(identity.certificate.statement, identity.public_key).has_e2e_key


async def test_build_worker_gives_the_worker_a_keyring(tmp_path: Path) -> None:
    config = WorkerConfig(http_port=0, data_dir=str(tmp_path))
    async with build_worker(config, WorkerDeps(engine=MemoryEngine())) as running:
        assert running.service.identity.keyring is not None


class RecordingConnection:
    """Stands in for a proxy's `RpcConnection`: keeps every offer sent to it."""

    rtt = 0.001

    def __init__(self) -> None:
        self.states: asyncio.Queue[WorkerState] = asyncio.Queue()

    async def send_worker_state(self, state: WorkerState) -> None:
        self.states.put_nowait(state)


async def test_each_re_issue_offers_the_new_certificate_and_key_to_every_proxy() -> None:
    clock = FakeClock(wall=WALL)
    identity = make_identity("", "fake", clock=clock, keyring=Keyring(os.urandom))
    service = WorkerService(
        WorkerConfig(proxies=[], model=FAKE_MODEL), MemoryEngine(), identity, make_policy("fake"), clock=clock
    )
    attest_worker(identity, service.config, FAKE_MODEL, clock)
    first = service.state()
    assert first.certificate == identity.certificate.der
    first_key = _statement(first.certificate, WALL).e2e_key_id
    # what a client does with the offered certificate: admit it with the worker policy
    admission = WorkerAdmission(make_policy("fake"), ConfigAllowlist([]))
    admission.verify(parse_certificate(first.certificate, WALL), WALL)

    proxies = [RecordingConnection(), RecordingConnection()]
    service.links.connections.update({f"p{i}": conn for i, conn in enumerate(proxies)})
    loop = asyncio.ensure_future(service._refresh_loop(check_every_s=0.001))
    try:
        await asyncio.sleep(0.01)
        assert all(proxy.states.empty() for proxy in proxies)  # not due yet: nothing re-sent
        clock.advance(3600)
        offers = [await asyncio.wait_for(proxy.states.get(), 5) for proxy in proxies]
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert offers[0] == offers[1] and offers[0].certificate == identity.certificate.der != first.certificate
    renewed = _statement(offers[0].certificate, clock.time())
    assert renewed.has_e2e_key and renewed.e2e_key_id != first_key
    assert identity.keyring is not None and identity.keyring.key_ids() == (renewed.e2e_key_id, first_key)
    admission.verify(parse_certificate(offers[0].certificate, clock.time()), clock.time())


async def test_the_stats_show_the_end_to_end_answers_and_refusals() -> None:
    worker: Worker = e2e_worker()
    service = WorkerService(
        WorkerConfig(proxies=[], model=FAKE_MODEL),
        worker.engine,
        worker.identity,
        make_policy("fake"),
        clock=worker.clock,
    )
    service.server = worker.server
    request, _ = seal(query(), [worker.key()])
    await serve(worker, request)
    stale, _ = seal(query(), [worker.key()], issued_at=WALL - 600)
    await serve(worker, stale)
    async with TestClient(TestServer(make_stats_app(service))) as client:
        stats = await (await client.get("/jsonstats")).json()
    requests = stats["requests"]
    assert (requests["served"], requests["e2e_served"], requests["rejected"]) == (1, 1, 1)
    assert requests["e2e_refused"] == {"e2e_stale": 1}


async def test_a_plaintext_request_is_not_counted_as_end_to_end() -> None:
    worker = e2e_worker()
    plain = RequestServer(worker.engine, FAKE_MODEL, Limits(), "w1", worker.server.signer)
    sink = Sink()
    await plain.serve(query(), sink, max_active=4)
    assert sink.final is not None and sink.final.kind == "end"
    assert (plain.counters.served, plain.counters.e2e_served) == (1, 0)

"""`WorkerService` below the network: model choice, offer, health broadcasts, stats, serving via a session.

The engine is `MemoryEngine` (or a variant whose health the test scripts); proxy connections are
stand-ins that record the offers sent to them. Nothing connects anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from worker_fakes import Sink, query

from cocoon.api.validation import Limits
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import CocoonError, EngineError
from cocoon.node.admin_token import AdminToken
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.roles import WorkerConfig
from cocoon.wire.messages import WorkerState
from cocoon.worker import service as service_module
from cocoon.worker.serve import RequestServer
from cocoon.worker.service import WorkerService, make_stats_app


class ScriptedHealthEngine(MemoryEngine):
    """A `MemoryEngine` whose health checks take their outcome from `outcomes` (True: up), in order."""

    def __init__(self, model: str = FAKE_MODEL) -> None:
        super().__init__(FakeEngineConfig(model=model))
        self.outcomes: asyncio.Queue[bool] = asyncio.Queue()

    async def health(self, *, within: float = 2.0) -> list[str]:
        if not await self.outcomes.get():
            raise EngineError("engine at memory://engine is not answering")
        return [self.config.model]

    async def alive(self, *, within: float) -> None:
        await self.health(within=within)


class RecordingConnection:
    """Stands in for a proxy's `RpcConnection`: keeps every offer sent to it."""

    rtt = 0.001

    def __init__(self) -> None:
        self.states: asyncio.Queue[WorkerState] = asyncio.Queue()

    async def send_worker_state(self, state: WorkerState) -> None:
        self.states.put_nowait(state)


def worker(engine: MemoryEngine | None = None, **config: object) -> WorkerService:
    settings = WorkerConfig(proxies=[], **config)
    return WorkerService(settings, engine or MemoryEngine(), make_identity("", "fake"), make_policy("fake"))


def start_serving(service: WorkerService) -> RequestServer:
    """What `WorkerService.run` sets up once the model is known (without attesting or connecting)."""
    service.server = RequestServer(service.engine, service.model, Limits(), service.worker_id)
    return service.server


# --- which model -----------------------------------------------------------------------------------


async def test_an_empty_model_takes_the_engines_and_a_configured_one_is_checked() -> None:
    assert await worker().resolve_model() == FAKE_MODEL
    assert await worker(model=FAKE_MODEL).resolve_model() == FAKE_MODEL
    with pytest.raises(CocoonError, match="serves \\['fake-model'\\], not 'other'"):
        await worker(model="other").resolve_model()


async def test_waiting_for_the_engine_retries_until_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "ENGINE_BACKOFF_START_S", 0.0)
    engine = ScriptedHealthEngine()
    for outcome in (False, False, True):
        engine.outcomes.put_nowait(outcome)
    assert await worker(engine).wait_for_engine() == FAKE_MODEL
    assert engine.outcomes.empty()


# --- the offer and its broadcasts ------------------------------------------------------------------


def test_the_offer_is_disabled_until_serving_then_shows_the_load() -> None:
    service = worker(model=FAKE_MODEL, coefficient=1500, max_active=3)
    owner, certificate = service.config.owner_address, service.identity.certificate.der
    assert service.state() == WorkerState(False, FAKE_MODEL, 1500, 3, 0, owner, certificate=certificate)
    start_serving(service).active = 2
    assert service.state() == WorkerState(True, FAKE_MODEL, 1500, 3, 2, owner, certificate=certificate)


async def test_an_engine_that_goes_down_and_back_is_told_to_every_proxy() -> None:
    engine = ScriptedHealthEngine()
    service = worker(engine, model=FAKE_MODEL, health_interval_s=0.001, health_failures=1)
    server = start_serving(service)
    proxies = [RecordingConnection(), RecordingConnection()]
    service.links.connections.update({f"p{i}": conn for i, conn in enumerate(proxies)})
    loop = asyncio.ensure_future(service._health_loop())
    try:
        engine.outcomes.put_nowait(True)  # unchanged: nothing is sent
        engine.outcomes.put_nowait(False)
        assert [(await p.states.get()).enabled for p in proxies] == [False, False]
        assert not server.engine_up
        engine.outcomes.put_nowait(True)
        assert [(await p.states.get()).enabled for p in proxies] == [True, True]
        assert server.engine_up
        assert all(p.states.empty() for p in proxies)  # one offer per change, none for "still up"
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_an_engine_that_comes_back_is_probed_again_and_its_endpoints_offered() -> None:
    """A restarted engine may be another one (upgraded, reconfigured): what it serves is asked again."""
    engine = ScriptedHealthEngine()
    engine.config = engine.config.replace({"embeddings": False})
    service = worker(engine, model=FAKE_MODEL, health_interval_s=0.001, health_failures=1)
    start_serving(service)
    proxy = RecordingConnection()
    service.links.connections["p"] = proxy
    loop = asyncio.ensure_future(service._health_loop())
    try:
        engine.outcomes.put_nowait(False)
        assert "/v1/embeddings" not in (await proxy.states.get()).endpoints
        engine.config = engine.config.replace({"embeddings": True})  # the engine that comes back embeds
        engine.outcomes.put_nowait(True)
        back = await proxy.states.get()
        assert back.enabled and "/v1/embeddings" in back.endpoints
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


# --- serving through a proxy session, and the stats ------------------------------------------------


async def test_a_proxy_sessions_queries_are_served_with_the_configured_slots() -> None:
    service = worker(model=FAKE_MODEL, max_active=1)
    server = start_serving(service)
    session = service._session("127.0.0.1:11001")
    assert session.handlers.on_payment is None  # no chain: no payment channel to join
    on_run_query = session.handlers.on_run_query
    assert on_run_query is not None
    sink = Sink()
    await on_run_query(query(), sink)
    assert sink.final is not None and sink.final.kind == "end" and server.counters.served == 1
    server.active = 1  # the one slot is taken
    busy = Sink()
    await on_run_query(query(), busy)
    assert busy.final is not None and busy.final.code == "no_capacity"


@pytest.fixture
async def stats_client() -> AsyncIterator[tuple[TestClient, WorkerService]]:
    service = worker(model=FAKE_MODEL)
    async with TestClient(TestServer(make_stats_app(service))) as client:
        yield client, service


async def test_the_stats_server_reports_health_counters_and_refuses_payouts_without_chain(
    stats_client: tuple[TestClient, WorkerService],
) -> None:
    client, service = stats_client
    assert await (await client.get("/healthz")).json() == {"ok": True, "connected": 0}
    before = await (await client.get("/jsonstats")).json()
    assert (before["requests"], before["engine_up"], before["payouts"]) == ({}, False, None)
    server = start_serving(service)
    await server.serve(query(), Sink(), max_active=1)
    after = await (await client.get("/jsonstats")).json()
    assert after["worker_id"] == service.identity.public_key.hex()[:16]
    assert after["engine_up"] is True and after["requests"]["served"] == 1
    assert after["requests"]["completion_tokens"] == 8
    refused = await client.post("/payout")  # the fixture's app has no admin token: nobody may
    assert refused.status == 401 and "without data_dir" in (await refused.json())["error"]


async def test_with_its_admin_token_a_payout_without_chain_is_refused_for_that(tmp_path: Path) -> None:
    token = AdminToken.of_data_dir(tmp_path)
    async with TestClient(TestServer(make_stats_app(worker(model=FAKE_MODEL), token))) as client:
        payout = await client.post("/payout", headers={"Authorization": f"Bearer {token.token}"})
        assert payout.status == 409 and "without a chain" in (await payout.json())["error"]

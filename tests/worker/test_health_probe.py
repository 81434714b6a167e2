"""The worker's engine health probe: the engine's health route, a generous timeout, and several misses.

A busy engine may answer slowly; the worker leaves routing only after `health_failures` probes in a row
failed (an error, an HTTP 5xx, or no answer within `health_timeout_s`), and one success resets the count.
`EngineClient.alive` asks ``GET /health`` and falls back to the model list when the engine has no such
route; it is tested against small HTTP servers. The loop is driven with intervals and timeouts of
hundredths of a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cocoon.api.validation import Limits
from cocoon.config import load_config
from cocoon.engine.client import EngineClient
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.protocol import Engine
from cocoon.errors import ConfigError, EngineError, EngineStatusError, EngineTimeoutError
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.roles import WorkerConfig
from cocoon.wire.messages import WorkerState
from cocoon.worker.serve import RequestServer
from cocoon.worker.service import WorkerService, make_stats_app

TIMEOUT_S = 0.02
"""The probe timeout in these tests: a hanging probe costs this long."""

OK, FAIL, HANG = "ok", "fail", "hang"


class ProbedEngine(MemoryEngine):
    """A `MemoryEngine` whose liveness probes follow ``script`` (ok, fail: an `EngineError`, hang: never
    answers, ignoring ``within``); once the script is used up every probe succeeds and `finished` is set."""

    def __init__(self, *script: str) -> None:
        super().__init__(FakeEngineConfig(model=FAKE_MODEL))
        self.script = list(script)
        self.finished = asyncio.Event()
        self.asked = 0

    async def alive(self, *, within: float) -> None:
        self.asked += 1
        if not self.script:
            self.finished.set()
            return
        step = self.script.pop(0)
        if step == FAIL:
            raise EngineError("engine at memory://engine refused the connection")
        if step == HANG:
            await asyncio.Event().wait()


class RecordingConnection:
    """Stands in for a proxy's `RpcConnection`: keeps every offer sent to it."""

    rtt = 0.001

    def __init__(self) -> None:
        self.states: list[WorkerState] = []

    async def send_worker_state(self, state: WorkerState) -> None:
        self.states.append(state)


def serving_worker(
    engine: Engine, *proxies: RecordingConnection, **config: object
) -> tuple[WorkerService, RequestServer]:
    """A worker past `run`'s start (model known, serving) with ``proxies`` connected."""
    settings = WorkerConfig(
        proxies=[], model=FAKE_MODEL, **{"health_interval_s": 0.001, "health_timeout_s": TIMEOUT_S, **config}
    )
    service = WorkerService(settings, engine, make_identity("", "fake"), make_policy("fake"))
    service.server = RequestServer(engine, FAKE_MODEL, Limits(), service.worker_id)
    service.links.connections.update({f"p{i}": conn for i, conn in enumerate(proxies)})
    return service, service.server


async def probe(service: WorkerService, times: int) -> list[bool]:
    """Probe ``times`` times; whether the engine counted as up after each (a probe that does not end
    within seconds fails the test)."""
    assert service.server is not None
    seen = []
    for _ in range(times):
        await asyncio.wait_for(service.probe_health(), 5.0)
        seen.append(service.server.engine_up)
    return seen


# --- counting failures -----------------------------------------------------------------------------


async def test_probes_that_hang_past_the_timeout_fewer_than_n_times_in_a_row_keep_the_engine_up() -> None:
    engine = ProbedEngine(HANG, HANG, OK, HANG, HANG, OK)
    proxy = RecordingConnection()
    service, _ = serving_worker(engine, proxy, health_failures=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await probe(service, 6) == [True] * 6
    assert loop.time() - started < 2.0  # each hang ended at its timeout, not when the engine answered
    assert proxy.states == []  # no offer with enabled=False (and none at all: nothing changed)
    assert (service.health.probes, service.health.probe_failures, service.health.probes_failed_total) == (
        6,
        0,
        4,
    )
    assert "no answer within 0.02 s" in service.health.last_failure


async def test_n_failures_in_a_row_mark_the_engine_down_once_and_the_first_success_brings_it_back() -> None:
    engine = ProbedEngine(FAIL, HANG, FAIL, FAIL, OK)
    proxies = [RecordingConnection(), RecordingConnection()]
    service, server = serving_worker(engine, *proxies, health_failures=3)
    assert await probe(service, 2) == [True, True]
    assert [p.states for p in proxies] == [[], []]
    assert await probe(service, 1) == [False]  # the third in a row
    assert [[s.enabled for s in p.states] for p in proxies] == [[False], [False]]
    assert await probe(service, 1) == [False]  # still down: nothing more is sent
    assert [len(p.states) for p in proxies] == [1, 1]
    assert service.health.probe_failures == 4
    assert await probe(service, 1) == [True]
    assert [[s.enabled for s in p.states] for p in proxies] == [[False, True], [False, True]]
    assert (service.health.probe_failures, service.health.probes_failed_total) == (0, 4)
    assert server.engine_up


async def test_a_success_in_between_resets_the_count() -> None:
    engine = ProbedEngine(FAIL, FAIL, OK, FAIL, FAIL, FAIL)
    proxy = RecordingConnection()
    service, _ = serving_worker(engine, proxy, health_failures=3)
    assert await probe(service, 6) == [True, True, True, True, True, False]
    assert [s.enabled for s in proxy.states] == [False]


async def test_one_allowed_failure_marks_the_engine_down_at_the_first() -> None:
    engine = ProbedEngine(FAIL)
    proxy = RecordingConnection()
    service, _ = serving_worker(engine, proxy, health_failures=1)
    assert await probe(service, 2) == [False, True]
    assert [s.enabled for s in proxy.states] == [False, True]


async def test_the_health_loop_probes_every_interval_and_counts_failures_in_a_row() -> None:
    engine = ProbedEngine(HANG, OK, FAIL, HANG, OK)
    proxy = RecordingConnection()
    service, server = serving_worker(engine, proxy, health_failures=2)
    loop = asyncio.ensure_future(service._health_loop())
    try:
        await asyncio.wait_for(engine.finished.wait(), 10.0)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert [s.enabled for s in proxy.states] == [False, True]  # down at FAIL+HANG, back at the OK
    assert server.engine_up
    assert service.health.probes_failed_total == 3


async def test_the_stats_show_probes_and_failures() -> None:
    engine = ProbedEngine(FAIL, FAIL, OK, FAIL)
    service, _ = serving_worker(engine, health_failures=3)
    await probe(service, 4)
    async with TestClient(TestServer(make_stats_app(service))) as client:
        stats = await (await client.get("/jsonstats")).json()
    assert stats["engine"] == {
        "up": True,
        "probes": 4,
        "probe_failures": 1,
        "probes_failed_total": 3,
        "last_failure": "engine at memory://engine refused the connection",
    }
    assert stats["engine_up"] is True


# --- the configuration -----------------------------------------------------------------------------


def test_the_health_settings_have_generous_defaults_and_are_checked() -> None:
    config = WorkerConfig()
    assert (config.health_timeout_s, config.health_failures) == (30.0, 3)
    with pytest.raises(ConfigError, match="health_timeout_s must be more than 0"):
        WorkerConfig(health_timeout_s=0)
    with pytest.raises(ConfigError, match="health_timeout_s must be more than 0"):
        load_config(WorkerConfig, env={"COCOON_HEALTH_TIMEOUT_S": "-1"})
    with pytest.raises(ConfigError, match="health_failures must be at least 1"):
        load_config(WorkerConfig, env={"COCOON_HEALTH_FAILURES": "0"})
    assert load_config(WorkerConfig, env={"COCOON_HEALTH_FAILURES": "5"}).health_failures == 5


# --- EngineClient.alive against HTTP engines -------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def http_engine(
    routes: dict[tuple[str, str], Handler], *, suffix: str = "/v1"
) -> AsyncIterator[tuple[EngineClient, list[str]]]:
    """An HTTP engine with exactly ``routes`` ((method, path): handler), a client for it, and the paths
    asked, in order."""
    asked: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        asked.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    async with TestServer(app) as server, EngineClient(str(server.make_url("")) + suffix) as client:
        yield client, asked


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": FAKE_MODEL, "object": "model"}]})


async def hangs(request: web.Request) -> web.Response:
    await asyncio.sleep(10.0)
    return web.json_response({})


async def health_ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def loading(request: web.Request) -> web.Response:
    """llama.cpp's server while it loads the model."""
    error = {"code": 503, "message": "Loading model", "type": "unavailable_error"}
    return web.json_response({"error": error}, status=503)


async def test_alive_asks_the_health_route_not_a_model_list_waiting_behind_a_generation() -> None:
    routes = {("GET", "/health"): health_ok, ("GET", "/v1/models"): hangs}
    async with http_engine(routes) as (client, asked):
        await client.alive(within=1.0)
    assert asked == ["/health"]  # at the root, not under /v1


async def test_alive_without_a_health_route_asks_the_model_list() -> None:
    async with http_engine({("GET", "/v1/models"): models}, suffix="") as (client, asked):
        await client.alive(within=1.0)
    assert asked == ["/health", "/v1/models"]


async def test_a_health_route_for_another_method_only_also_falls_back_to_the_model_list() -> None:
    routes = {("POST", "/health"): health_ok, ("GET", "/v1/models"): models}
    async with http_engine(routes) as (client, asked):
        await client.alive(within=1.0)
    assert asked == ["/health", "/v1/models"]


async def test_without_a_health_route_a_failing_model_list_is_a_failure() -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "boom"}}, status=500)

    async with http_engine({("GET", "/v1/models"): broken}) as (client, _):
        with pytest.raises(EngineStatusError, match="boom"):
            await client.alive(within=1.0)


async def test_a_health_route_answering_503_is_a_failure_without_asking_the_model_list() -> None:
    routes = {("GET", "/health"): loading, ("GET", "/v1/models"): models}
    async with http_engine(routes) as (client, asked):
        with pytest.raises(EngineStatusError, match="Loading model") as caught:
            await client.alive(within=1.0)
    assert caught.value.status == 503
    assert asked == ["/health"]


async def test_a_health_route_slower_than_within_is_a_timeout() -> None:
    async with http_engine({("GET", "/health"): hangs}) as (client, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(EngineTimeoutError):
            await client.alive(within=0.05)
        assert loop.time() - started < 2.0


async def test_a_worker_whose_engine_answers_503_leaves_routing_after_n_probes() -> None:
    routes = {("GET", "/health"): loading, ("GET", "/v1/models"): models}
    async with http_engine(routes) as (client, _):
        proxy = RecordingConnection()
        service, _ = serving_worker(client, proxy, health_failures=2, health_timeout_s=1.0)
        assert await probe(service, 2) == [True, False]
    assert [s.enabled for s in proxy.states] == [False]
    assert "HTTP 503: Loading model" in service.health.last_failure

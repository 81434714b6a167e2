"""The worker process: connections out to proxies, engine health, and a small stats server.

For each configured proxy it keeps one attested connection, reconnecting with capped exponential
backoff; after the hello exchange it declares its offer (`WorkerState`: model, coefficient, capacity,
owner address, and the context length and endpoints `worker.capabilities` probed at start) and serves
`RunQuery`s. A health probe of the engine (`Engine.alive`: its health route, else its model list) runs
every few seconds; the engine counts as down only after `health_failures` probes in a row failed (a busy
engine may answer slowly), and up again at the first success. When it goes down or comes back, every
proxy is told at once so no request is routed to a dead engine.
The offer carries the certificate presented now; after each hourly re-issue (a new end-to-end key in
its statement) the offer is sent again to every proxy, so they hand the new key to clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from aiohttp import web

from cocoon.api.validation import Limits
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import Policy
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.protocol import Engine
from cocoon.errors import CocoonError, EngineError
from cocoon.net.proxy_links import ProxyLinks
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.rpc_stream import Responder
from cocoon.node.admin_http import admin_only
from cocoon.node.admin_token import AdminToken
from cocoon.node.identity import refresh_certificates
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import WorkerConfig
from cocoon.wire.messages import Role, RunQuery, WorkerState
from cocoon.wire.session import EndpointConfig
from cocoon.worker.attest import attest_worker
from cocoon.worker.capabilities import EngineCapabilities, probe_engine
from cocoon.worker.metrics import worker_metrics
from cocoon.worker.payout_link import PayoutLink
from cocoon.worker.payouts import WorkerPayouts
from cocoon.worker.preflight import preflight
from cocoon.worker.proxy_session import WorkerProxySession
from cocoon.worker.serve import RequestServer
from cocoon.worker.status_page import render_worker_status

log = logging.getLogger(__name__)

ENGINE_BACKOFF_START_S = 0.2
ENGINE_BACKOFF_MAX_S = 5.0


@dataclass(slots=True)
class HealthProbes:
    """What the health loop has seen of the engine: probes sent, failures in a row and in all."""

    probes: int = 0
    probe_failures: int = 0  # consecutive: reset by the first probe that succeeds
    probes_failed_total: int = 0
    last_failure: str = ""


class WorkerService:
    """Runs one worker until cancelled."""

    def __init__(
        self,
        config: WorkerConfig,
        engine: Engine,
        identity: NodeIdentity,
        policy: Policy,
        payouts: WorkerPayouts | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.clock = clock
        self.payouts = payouts  # payment channels on chain; None: no chain configured
        self.engine = engine
        self.identity = identity
        self.policy = policy
        self.worker_id = identity.public_key.hex()[:16]
        self.model = config.model
        self.server: RequestServer | None = None
        self.capabilities = EngineCapabilities()  # learned from the engine at start (`run`)
        self.health = HealthProbes()
        self.links = ProxyLinks(
            identity,
            policy,
            EndpointConfig(Role.WORKER, self.worker_id, accept_roles=frozenset({Role.PROXY})),
            self._session,
            # A proxy whose payment numbers went backwards or did not verify is never used again.
            # A proxy whose contract closes is left until the root's params move on.
            give_up=lambda address: payouts is not None and payouts.gives_up(address),
            role="worker",
        )
        self.started_at = clock.monotonic()

    @property
    def connections(self) -> dict[str, RpcConnection]:
        """Live proxy connections by address."""
        return self.links.connections

    async def resolve_model(self) -> str:
        """The model to serve: the configured one (checked against the engine) or the engine's first."""
        models = await self.engine.health(within=10.0)
        if self.model:
            if self.model not in models:
                raise CocoonError(
                    f"the engine at {self.config.engine_url} serves {models}, not {self.model!r}; "
                    "fix `model` in the worker config or leave it empty to take the engine's"
                )
            return self.model
        if not models:
            raise CocoonError(f"the engine at {self.config.engine_url} lists no model")
        return models[0]

    def state(self) -> WorkerState:
        server = self.server
        return WorkerState(
            enabled=bool(server and server.engine_up),
            model=self.model,
            coefficient=self.config.coefficient,
            max_active=self.config.max_active,
            active=server.active if server else 0,
            owner=self.payouts.owner.raw if self.payouts else self.config.owner_address,
            context_length=self.capabilities.context_length,
            endpoints=self.capabilities.endpoints,
            certificate=self.identity.certificate.der,
        )

    async def wait_for_engine(self) -> str:
        """Resolve the model, waiting for the engine to come up (it may start after the worker)."""
        backoff = ENGINE_BACKOFF_START_S
        while True:
            try:
                return await self.resolve_model()
            except EngineError as exc:
                log.warning("waiting for the engine: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ENGINE_BACKOFF_MAX_S)

    async def run(self) -> None:
        """Resolve the model, then keep every proxy connection and the health probe running."""
        self.model = await self.wait_for_engine()
        preflight(self.config, self.model)
        self.capabilities = await probe_engine(self.engine, self.model)
        limits = Limits(max_tokens_limit=self.config.max_tokens_limit)
        signer = attest_worker(self.identity, self.config, self.model, self.clock)  # statement + receipts
        self.server = RequestServer(self.engine, self.model, limits, self.worker_id, signer, clock=self.clock)
        log.info(
            "worker %s serving %s at coefficient %d", self.worker_id, self.model, self.config.coefficient
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.links.run(self.config.proxies))
            tasks.create_task(self._health_loop())
            tasks.create_task(self._refresh_loop())
            if self.payouts is not None:
                server = self.server
                watch_s = self.config.proxy_watch_interval_s
                tasks.create_task(self.payouts.run(idle=lambda: server.active == 0, watch_s=watch_s))

    async def move_params(self, snapshot: RegistrySnapshot, why: str) -> None:
        """The root's params moved on (:class:`~cocoon.node.params_move.ParamsFollower`): submit every
        signed payout on the old worker contracts, take the new params and reconnect to every proxy;
        each proxy is served again once it settles under the new params."""
        if self.payouts is not None:
            await self.payouts.move_to(snapshot.chain_params, why)
        self.links.reconnect_all(why, snapshot.params_version)

    async def _serve(self, request: RunQuery, responder: Responder) -> None:
        assert self.server is not None
        await self.server.serve(request, responder, self.config.max_active)

    def _session(self, address: str) -> WorkerProxySession:
        session = WorkerProxySession(self, address)
        if self.payouts is not None:
            session.link = PayoutLink(self.payouts, address, on_leave=session.tell_state)
            session.handlers = Handlers(on_run_query=session.serve, on_payment=session.link.on_payment)
        return session

    def leaving(self, address: str) -> str | None:
        """Why the worker takes no more requests from the proxy at ``address`` (None: it does)."""
        return self.payouts.disabled.get(address) if self.payouts is not None else None

    def state_for(self, address: str) -> WorkerState:
        """The offer sent to the proxy at ``address``: disabled for a proxy the worker leaves."""
        state = self.state()
        return msgspec.structs.replace(state, enabled=False) if self.leaving(address) else state

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            await self.probe_health()

    async def probe_health(self) -> None:
        """Probe the engine once; mark it down after `health_failures` failures in a row, up at the first
        success (asking again what it serves), and tell every proxy when that changes."""
        server = self.server
        assert server is not None
        timeout, needed = self.config.health_timeout_s, self.config.health_failures
        self.health.probes += 1
        try:
            async with asyncio.timeout(timeout):  # also bounds an engine that ignores `within`
                await self.engine.alive(within=timeout)
        except (EngineError, TimeoutError) as exc:
            failures = self.health.probe_failures = self.health.probe_failures + 1
            self.health.probes_failed_total += 1
            reason = str(exc) or f"the engine at {self.config.engine_url} gave no answer within {timeout} s"
            self.health.last_failure = reason
            if not server.engine_up:
                log.debug("engine health probe failed (%d of %d): %s", failures, needed, reason)
                return
            log.info("engine health probe failed (%d of %d): %s", failures, needed, reason)
            if failures < needed:
                return
            server.engine_up = False
            log.warning(
                "engine is down after %d failed health probes in a row (%s): telling %d proxies",
                failures,
                reason,
                len(self.connections),
            )
            await self.broadcast_state()
            return
        self.health.probe_failures = 0
        if server.engine_up:
            return
        # An engine that comes back may be another one (restarted, upgraded): ask what it serves again.
        self.capabilities = await probe_engine(self.engine, self.model)
        server.engine_up = True
        log.warning("engine is up again: telling %d proxies", len(self.connections))
        await self.broadcast_state()

    async def _refresh_loop(self, check_every_s: float = 60.0) -> None:
        """Re-issue the certificate when due; each carries a new end-to-end key: offer it to every proxy."""
        await refresh_certificates(
            self.identity, check_every_s, clock=self.clock, on_issue=self.broadcast_state
        )

    async def broadcast_state(self) -> None:
        for address, conn in list(self.connections.items()):
            with contextlib.suppress(CocoonError):
                await conn.send_worker_state(self.state_for(address))

    def stats(self) -> dict[str, Any]:
        server = self.server
        counters = server.counters if server else None
        return {
            "worker_id": self.worker_id,
            "pid": os.getpid(),
            "model": self.model,
            "coefficient": self.config.coefficient,
            "owner": self.config.owner_address,
            "engine_url": self.config.engine_url,
            "engine_up": bool(server and server.engine_up),
            "engine": {"up": bool(server and server.engine_up), **asdict(self.health)},
            "active": server.active if server else 0,
            "max_active": self.config.max_active,
            "proxies": {
                # every configured proxy, connected or not; ``leaving``: why our offer to it is disabled
                addr: {
                    "connected": addr in self.connections,
                    "rtt": self.connections[addr].rtt if addr in self.connections else None,
                    "leaving": self.leaving(addr),
                }
                for addr in dict.fromkeys([*self.config.proxies, *self.connections])
            },
            "connects": self.links.connects,
            "requests": vars(counters) if counters else {},
            "uptime_s": round(self.clock.monotonic() - self.started_at, 1),
            "payouts": self.payouts.stats() if self.payouts else None,
        }


def make_stats_app(service: WorkerService, admin: AdminToken | None = None) -> web.Application:
    """/healthz, /jsonstats, /metrics (Prometheus, `cocoon.worker.metrics`) and the status page (`/`,
    `/status`: `cocoon.worker.status_page`) of the worker, open, and ``POST /payout``, which needs
    ``admin`` (the default admits nobody)."""
    admin = admin or AdminToken(None, None)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "connected": len(service.connections)})

    async def jsonstats(request: web.Request) -> web.Response:
        return web.json_response(service.stats())

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=worker_metrics(service), content_type="text/plain", charset="utf-8")

    async def status_page(request: web.Request) -> web.Response:
        return web.Response(text=render_worker_status(service.stats()), content_type="text/html")

    async def payout(request: web.Request) -> web.Response:
        # `cocoon worker payout`: submit every unclaimed signed payout now.
        if service.payouts is None:
            return web.json_response({"error": "this worker runs without a chain"}, status=409)
        sent = await service.payouts.cash_out(force=True)
        return web.json_response({"submitted": sent, **service.payouts.stats()})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/jsonstats", jsonstats)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/payout", admin_only(admin, payout))
    app.router.add_get("/", status_page)
    app.router.add_get("/status", status_page)
    return app

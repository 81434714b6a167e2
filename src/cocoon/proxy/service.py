"""The proxy process: attested listeners for workers and clients, the router, the ledger, stats.

Workers connect to the worker port (policy from config, `fake` locally, `tdx` in production) and
declare their offer with `WorkerState`; clients connect to the client port (policy `any` by default,
as in the reference network) and are known by the key of their certificate. On a chain a client pays
only through its client contract (bound by ``RegisterClient``, or a COCOON client's authorization);
without one it is refused with 402. Without a chain (test networks), a client's credit is
`local_client_credit_nano`, granted the first time it connects (0 by default).

End-to-end encryption (spec/e2e.md): each certificate a worker re-sends in its `WorkerState` is
verified with the same worker policy as its handshake before its end-to-end key is used; clients ask
for the workers they may encrypt to with `E2ECandidates`. ``/metrics`` serves the counters in the
Prometheus text format, receipt mismatches per worker included. A third listener speaks COCOON's own
client protocol for reference clients and SDKs (:mod:`cocoon.proxy.cocoon_port`), on the same router,
ledger and settlement.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import Policy
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError, RemoteQueryError
from cocoon.net.address import is_loopback_ip
from cocoon.net.listener import Listener
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.rpc_stream import Responder
from cocoon.net.tls import AttestedStream
from cocoon.node.admin_http import admin_only
from cocoon.node.admin_token import AdminToken
from cocoon.node.identity import refresh_certificates
from cocoon.payments.params import Nano, NetworkParams
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.admission import (
    admitted_offer,
    certificate_sha256,
    state_refusal,
    verify_worker_certificate,
)
from cocoon.proxy.cocoon_port import CocoonPort, cocoon_port_of
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.metrics import proxy_metrics
from cocoon.proxy.no_worker import no_worker_for
from cocoon.proxy.routing import Router
from cocoon.proxy.selection import (
    EndpointNotServed,
    NoSuchModel,
    PriceTooLow,
)
from cocoon.proxy.settlement import ProxySettlement
from cocoon.proxy.status_page import render_proxy_status
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.roles import ProxyConfig
from cocoon.wire.control import (
    ControlBody,
    E2ECandidate,
    E2ECandidateList,
    E2ECandidates,
    GetPaymentStatus,
    GetProxyInfo,
    GetWorkerTypes,
    PaymentStatus,
    ProxyInfo,
    RegisterClient,
    WorkerTypes,
)
from cocoon.wire.messages import Role, RunQuery, WorkerState
from cocoon.wire.session import EndpointConfig

log = logging.getLogger(__name__)


class ProxyService:
    """Everything the proxy does, wired together; `start` binds the listeners."""

    def __init__(
        self,
        config: ProxyConfig,
        identity: NodeIdentity,
        worker_policy: Policy,
        client_policy: Policy,
        ledger: Ledger,
        chain: ProxySettlement | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.clock = clock
        self.identity = identity
        self.proxy_id = identity.public_key.hex()[:16]
        self.chain = chain  # settlement on chain; None: off-chain credit (local_client_credit_nano)
        # (after a root params change, the settlement of the new contract: cocoon.proxy.redeploy)
        self.old_contracts: Callable[[], list[dict[str, Any]]] = list
        """The closes of contracts left by a params change, still under way (for ``/jsonstats``)."""
        self.params = (
            chain.params
            if chain
            else NetworkParams(
                price_per_token=Nano(config.price_per_token),
                worker_fee_per_token=Nano(config.worker_fee_per_token),
            )
        )
        self.ledger = ledger
        self.worker_policy = worker_policy
        """The listener's worker policy, also applied to the certificates workers re-send."""
        self.workers = WorkerPool(params=self.params)
        self.book = ClientBook(ledger, self.params, chain)
        self.router = Router(
            self.workers,
            self.book,
            self.proxy_id,
            max_retries=config.max_retries,
            queue_timeout_s=config.queue_timeout_s,
            clock=clock,
        )
        self.clients: dict[str, int] = {}  # client id -> live connections
        self.started_at = clock.monotonic()
        self.worker_listener = Listener(
            config.host, config.worker_port, identity, worker_policy, self._on_worker, name="proxy/workers"
        )
        self.client_listener = Listener(
            config.host, config.client_port, identity, client_policy, self._on_client, name="proxy/clients"
        )
        cocoon_port = cocoon_port_of(config.client_port, config.cocoon_port)
        self.cocoon_port = (
            CocoonPort(self, config.host, cocoon_port, difficulty=config.cocoon_pow_difficulty)
            if cocoon_port is not None
            else None
        )
        """COCOON's own client protocol (reference clients and SDKs); None when configured off."""

    @property
    def off_chain_credit(self) -> Nano:
        """Credit a new client gets in the ledger: ``local_client_credit_nano`` without a chain, none on
        one (a client pays through its contract there; `ClientBook` refuses it otherwise)."""
        return Nano(0) if self.chain is not None else Nano(self.config.local_client_credit_nano)

    async def start(self) -> None:
        await self.worker_listener.start()
        await self.client_listener.start()
        if self.cocoon_port is not None:
            await self.cocoon_port.start()

    async def aclose(self) -> None:
        if self.cocoon_port is not None:
            await self.cocoon_port.aclose()
        await self.client_listener.aclose()
        await self.worker_listener.aclose()

    async def refresh(self) -> None:
        await refresh_certificates(self.identity, clock=self.clock)

    # --- workers ----------------------------------------------------------------------------------

    async def _on_worker(self, stream: AttestedStream) -> None:
        worker_id = stream.peer.public_key.hex()[:16]
        image = stream.peer.image_hash.hex() if stream.peer.image_hash else "unattested"
        link: WorkerLink | None = None

        def on_state(state: WorkerState) -> None:
            nonlocal link
            if link is None:
                return
            if (why := state_refusal(link.attested, state)) is not None:
                log.warning("worker %s refused: %s", worker_id, why)
                return  # never registered: no request is routed to it
            admitted = admitted_offer(state)
            if state.endpoints and admitted.endpoints != state.endpoints:
                log.info(
                    "worker %s: ignoring unknown or repeated endpoints among %s",
                    worker_id,
                    list(state.endpoints),
                )
            state = admitted
            if state.certificate:
                self._take_certificate(link, state)
            first = link.state is None
            link.state = state
            if first:
                self.workers.add(link)
                log.info(
                    "worker %s joined: %s at %d (image %s)", worker_id, state.model, state.coefficient, image
                )

        config = EndpointConfig(Role.PROXY, self.proxy_id, accept_roles=frozenset({Role.WORKER}))

        async def worker_query(body: ControlBody) -> ControlBody:
            if isinstance(body, GetProxyInfo):
                return self._proxy_info()
            raise RemoteQueryError(f"the proxy does not answer {type(body).__name__}", "unsupported")

        handlers = Handlers(on_worker_state=on_state, on_query=worker_query)
        conn = await RpcConnection.open(stream, config, initiator=False, handlers=handlers)
        link = WorkerLink(worker_id, conn, image, attested=stream.peer)
        try:
            ended = await conn.wait_closed()
            log.info("worker %s left: %s", worker_id, ended.reason)
        finally:
            self.workers.remove(link)  # wakes the requests queued for its model
            await conn.aclose("proxy closing")

    def _take_certificate(self, link: WorkerLink, state: WorkerState) -> None:
        """Verify the certificate a worker sent with its offer, once; keep the one before if it fails."""
        der = state.certificate
        if link.certificate is not None and der == link.certificate.der:
            return
        digest = certificate_sha256(der)
        if digest == link.refused_certificate_sha256:
            return
        try:
            verified = verify_worker_certificate(
                der, link.attested, self.worker_policy, state.model, self.clock.time()
            )
        except CocoonError as exc:
            link.certificate_refusals += 1
            link.refused_certificate_sha256 = digest
            self.workers.certificates_refused += 1
            log.warning(
                "worker %s: refused the certificate it sent (%s…), keeping the one before: %s",
                link.worker_id,
                digest.hex()[:16],
                exc,
            )
            return
        link.take_certificate(verified)
        key = verified.e2e_key_id.hex() if verified.e2e_key_id else "none"
        log.info(
            "worker %s: certificate %s… verified, end-to-end key %s", link.worker_id, digest.hex()[:16], key
        )

    # --- clients ----------------------------------------------------------------------------------

    async def _on_client(self, stream: AttestedStream) -> None:
        client_id = stream.peer.public_key.hex()
        self.ledger.ensure_client(client_id, self.off_chain_credit)

        conn: RpcConnection | None = None

        async def run(request: RunQuery, responder: Responder) -> None:
            if self.chain is not None and (why := self.chain.refusal) is not None:
                await responder.error(503, "proxy_unavailable", why)
                return
            await self.router.handle(client_id, request, responder)

        async def query(body: ControlBody) -> ControlBody:
            if isinstance(body, GetProxyInfo):
                return self._proxy_info()
            if self.chain is not None:
                if isinstance(body, RegisterClient):
                    return await self.chain.register_client(client_id, body, conn)
                if isinstance(body, GetPaymentStatus) and (status := self.chain.payment_status(client_id)):
                    return status
            return self._client_query(client_id, body)

        config = EndpointConfig(Role.PROXY, self.proxy_id, accept_roles=frozenset({Role.CLIENT}))
        handlers = Handlers(on_query=query, on_run_query=run)
        conn = await RpcConnection.open(stream, config, initiator=False, handlers=handlers)
        self.clients[client_id] = self.clients.get(client_id, 0) + 1
        try:
            await conn.wait_closed()
        finally:
            self.clients[client_id] -= 1
            if self.chain is not None:
                self.chain.forget_client(client_id, conn)
            await conn.aclose("proxy closing")

    def _proxy_info(self) -> ProxyInfo:
        """Where this proxy settles: its contract (empty without a chain)."""
        s = self.chain
        return ProxyInfo(s.contract.raw if s else "", s.params.params_version if s else 0)

    def client_payment_status(self, client_id: str) -> PaymentStatus:
        """The client's payment channel: from the chain when it is bound to a client contract, else its
        off-chain account (both counters = tokens charged in the ledger)."""
        if self.chain is not None and (status := self.chain.payment_status(client_id)) is not None:
            return status
        local = self._client_query(client_id, GetPaymentStatus())
        assert isinstance(local, PaymentStatus)
        return local

    def _client_query(self, client_id: str, body: ControlBody) -> ControlBody:
        if isinstance(body, GetWorkerTypes):
            return WorkerTypes(tuple(self.workers.worker_types()))
        if isinstance(body, E2ECandidates):
            return self.e2e_candidates(body)
        if isinstance(body, GetPaymentStatus):
            self.ledger.commit()  # what a client is told must be durable (group commit: ledger.py)
            account = self.ledger.client(client_id)
            return PaymentStatus(
                tokens_max=account.charged_tokens,
                committed_to_db=account.charged_tokens,
                committed_to_chain=0,
                balance_nano=account.remaining_nano,
            )
        raise RemoteQueryError(f"the proxy does not answer {type(body).__name__}", "unsupported")

    def e2e_candidates(self, query: E2ECandidates) -> E2ECandidateList:
        """The workers a client may encrypt a request to, best first, each with its verified certificate
        (only its hash when the client says it has it)."""
        chosen = self.workers.e2e_candidates(
            query.model,
            query.max_coefficient,
            query.endpoint,
            query.want,
            self.clock.time(),
        )
        known = frozenset(query.known)
        answer = []
        for candidate in chosen:
            cert = self.workers.links[candidate.worker_id].certificate
            assert cert is not None  # it offers a key: its certificate was verified
            answer.append(
                E2ECandidate(
                    worker_id=candidate.worker_id,
                    certificate_sha256=cert.sha256,
                    certificate=b"" if cert.sha256 in known else cert.der,
                    coefficient=candidate.coefficient,
                )
            )
        if answer:
            return E2ECandidateList(tuple(answer))
        # None listed: say so as a plaintext request would be told, when no worker could take it at all.
        choice = self.workers.choose(
            query.model,
            query.max_coefficient,
            self.router.rng,
            endpoint=query.endpoint,
        )
        if isinstance(choice, NoSuchModel | EndpointNotServed | PriceTooLow):
            refused = no_worker_for(choice, query.model, query.max_coefficient)
            return E2ECandidateList((), refused.status, refused.code, refused.message)
        return E2ECandidateList()

    # --- stats ------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "proxy_id": self.proxy_id,
            "pid": os.getpid(),
            "chain": self.chain.stats() if self.chain else None,
            "old_contracts": self.old_contracts(),
            "uptime_s": round(self.clock.monotonic() - self.started_at, 1),
            "params": {
                "price_per_token": self.params.price_per_token,
                "worker_fee": self.params.worker_fee_per_token,
            },
            "workers": [
                {
                    "worker_id": link.worker_id,
                    "model": link.state.model if link.state else None,
                    "coefficient": link.state.coefficient if link.state else None,
                    "enabled": link.state.enabled if link.state else False,
                    "active": link.active,
                    "max_active": link.state.max_active if link.state else 0,
                    "served": link.served,
                    "failed": link.failed,
                    "latency_s": round(link.latency_s, 4),
                    "success_rate": round(link.success_rate, 4),
                    "ttft_s": round(link.stats.ttft.value(0.0), 4),
                    "tpot_s": round(link.stats.tpot.value(0.0), 6),
                    "image_hash": link.image_hash,
                    "certificate_sha256": link.certificate.sha256.hex() if link.certificate else None,
                    "e2e_key_ids": [key.hex() for key in link.e2e_key_ids],
                    "certificate_refusals": link.certificate_refusals,
                    "receipt_mismatches": self.workers.receipt_mismatches.get(link.worker_id, 0),
                    "flagged": link.worker_id in self.workers.receipt_mismatches,
                }
                for link in self.workers
            ],
            "e2e": {
                "certificates_refused": self.workers.certificates_refused,
                "receipt_mismatches": dict(self.workers.receipt_mismatches),
            },
            "clients": {cid: {"connections": n} for cid, n in self.clients.items()},
            "routing": asdict(self.router.counters),
            "ledger": {
                "clients": [asdict(a) | {"remaining_nano": a.remaining_nano} for a in self.ledger.clients()],
                "workers": [asdict(w) for w in self.ledger.workers()],
                "group_commit": self.ledger.commit_stats(),
            },
            "listeners": {
                "workers": {"port": self.worker_listener.port, "refused": self.worker_listener.refused},
                "clients": {"port": self.client_listener.port, "refused": self.client_listener.refused},
                "cocoon": self.cocoon_port.stats() if self.cocoon_port is not None else None,
            },
        }

    def prometheus(self) -> str:
        """Every counter in the Prometheus text format (`cocoon.proxy.metrics`)."""
        return proxy_metrics(self)


def make_stats_app(service: ProxyService, admin: AdminToken | None = None) -> web.Application:
    """/healthz, /jsonstats, /metrics and GET /close, open; the POSTs that settle or close need ``admin``
    (the default admits nobody)."""
    admin = admin or AdminToken(None, None)

    async def healthz(request: web.Request) -> web.Response:
        if service.chain is not None and service.chain.refused:
            return web.json_response({"ok": False, "refused": service.chain.refused}, status=503)
        return web.json_response({"ok": True, "workers": len(service.workers.links)})

    async def jsonstats(request: web.Request) -> web.Response:
        return web.json_response(service.stats())

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=service.prometheus(), content_type="text/plain", charset="utf-8")

    async def status_page(request: web.Request) -> web.Response:
        return web.Response(text=render_proxy_status(service.stats()), content_type="text/html")

    async def force_settle(request: web.Request) -> web.Response:
        # Operator request: commit on chain now, then charge every client, pay every worker, withdraw.
        if service.chain is None:
            return web.json_response({"error": "this proxy runs without a chain"}, status=409)
        await service.chain.force()
        return web.json_response(service.chain.stats())

    async def request_close(request: web.Request) -> web.Response:
        # Operator request: close the proxy contract (no new requests; refunds, last payouts, the delay,
        # then everything to the owner). Only from this machine: a stranger must not stop a proxy.
        if service.chain is None:
            return web.json_response(
                {"error": "this proxy runs without a chain: nothing to close"}, status=409
            )
        if not _loopback(request.remote):
            return web.json_response(
                {"error": "closing the proxy is only accepted from the proxy's own machine (loopback)"},
                status=403,
            )
        try:
            return web.json_response(service.chain.request_close())
        except CocoonError as exc:
            return web.json_response({"error": str(exc)}, status=409)

    async def close_status(request: web.Request) -> web.Response:
        if service.chain is None:
            return web.json_response(
                {"error": "this proxy runs without a chain: nothing to close"}, status=409
            )
        return web.json_response(service.chain.close_status())

    app = web.Application()
    app.router.add_post("/request/close", admin_only(admin, request_close))
    app.router.add_get("/close", close_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/jsonstats", jsonstats)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/request/charge", admin_only(admin, force_settle))
    app.router.add_post("/request/payout", admin_only(admin, force_settle))
    app.router.add_get("/", status_page)
    app.router.add_get("/status", status_page)
    return app


def _loopback(remote: str | None) -> bool:
    """Whether an HTTP peer address is this machine (an IPv4-mapped loopback peer included)."""
    return remote is not None and is_loopback_ip(remote) is True


def ledger_path(data_dir: str) -> Path:
    base = Path(data_dir).expanduser() if data_dir else Path("~/.cocoon/proxy-0").expanduser()
    base.mkdir(parents=True, exist_ok=True)
    return base / "state.db"

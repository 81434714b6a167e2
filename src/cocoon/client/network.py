"""The client daemon's side of the network: attested connections to proxies, requests through them.

One connection per proxy is kept open and re-opened with capped backoff (`cocoon.net.proxy_links`);
the proxy set may change at run time. A request goes to a connected proxy whose model list names its
model, the least loaded (`cocoon.client.proxy_choice`: which errors send it to another proxy before
its answer began, and why the others never do). Its answer is read within the caller's timeout
(`cocoon.client.network_answer.NetworkAnswer`): a connection that dies mid-answer, or a timeout that
passes, becomes a final `AnswerError`, so the HTTP layer always ends what it started.

End-to-end encryption (spec/e2e.md; ``e2e`` in the config): unless it is off, a request through one
of our proxies is sealed to verified workers and resent when they fail it
(`cocoon.client.e2e_send.E2ESender`, which the pool lends its pick among proxies and its failure
counts); ``required`` refuses a request no verified worker can take, ``preferred`` downgrades it.

COCOON-protocol proxies (``cocoon_proxies``; `cocoon.client.cocoon_proxy`) are picked beside ours by
the same rule; they carry requests in plaintext only, so ``e2e = "required"`` never picks them and
``preferred`` counts a request through one as downgraded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from cocoon.api.validation import ValidatedRequest
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import Policy
from cocoon.client.backend import BackendAnswer, Privacy
from cocoon.client.cocoon_proxy import CocoonLink, CocoonProxies
from cocoon.client.e2e_answer import E2EAnswer
from cocoon.client.e2e_send import E2ESender
from cocoon.client.e2e_workers import E2EWorkers
from cocoon.client.failover import LostAnswer, PrimedAnswer
from cocoon.client.model_list import model_list
from cocoon.client.network_answer import routing_of, run_query_of, send_query
from cocoon.client.payment_link import ClientLink, ClientProxySession
from cocoon.client.payments import ClientPayments
from cocoon.client.proxy_choice import MIN_RESEND_S, ProxyChoice, fails_over
from cocoon.client.proxy_queries import ask_worker_types, proxy_status
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import RequestError
from cocoon.net.proxy_links import ProxyLinks
from cocoon.net.rpc import RpcConnection
from cocoon.node.identity import refresh_certificates
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import E2EMode
from cocoon.wire.messages import AnswerError, AnswerPart, Role
from cocoon.wire.session import EndpointConfig

log = logging.getLogger(__name__)


class ProxyPool:
    """Connections to the configured proxies; the real `cocoon.client.backend.InferenceBackend`."""

    def __init__(
        self,
        proxies: list[str],
        identity: NodeIdentity,
        policy: Policy,
        payments: ClientPayments | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        e2e: E2EMode = "off",
        workers: E2EWorkers | None = None,
        cocoon: CocoonProxies | None = None,
    ) -> None:
        """``workers`` (the end-to-end candidates and their verdicts) is needed unless ``e2e`` is off;
        ``cocoon``: the COCOON-protocol proxies to pick among too."""
        if e2e != "off" and workers is None:
            raise ValueError("end-to-end encryption needs the pool of verified workers")
        self.e2e = e2e
        self.workers = workers
        self.cocoon = cocoon
        self.clock = clock
        self.payments = payments  # client contracts on chain; None: the proxy's off-chain credit
        self.proxies = proxies
        self.identity = identity
        self.policy = policy
        self.client_id = identity.public_key.hex()
        self.links = ProxyLinks(
            identity,
            policy,
            EndpointConfig(Role.CLIENT, self.client_id[:16], accept_roles=frozenset({Role.PROXY})),
            self._session,
            # A proxy whose payment numbers went backwards or did not verify is never used again.
            give_up=lambda address: payments is not None and address in payments.dropped,
            role="client",
        )
        self.choice = ProxyChoice()
        self._listing = asyncio.Lock()
        self.e2e_sender: E2ESender | None = None
        if workers is not None:  # it sends again through our own proxies only: COCOON's carry plaintext
            self.e2e_sender = E2ESender(
                e2e, workers, self.choice, lambda model, tried: self._pick(model, tried, cocoon=False), clock
            )

    @property
    def connections(self) -> dict[str, RpcConnection]:
        """Live proxy connections by address."""
        return self.links.connections

    @property
    def last_error(self) -> dict[str, str]:
        return self.links.last_error

    def _session(self, address: str) -> ClientProxySession:
        return ClientProxySession(ClientLink(self.payments, address) if self.payments else None)

    async def run_forever(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.links.run(self.proxies))
            if self.cocoon is not None:
                tasks.create_task(self.cocoon.run())
            tasks.create_task(refresh_certificates(self.identity, clock=self.clock))
            if self.payments is not None:
                tasks.create_task(self.payments.run())

    async def move_params(self, snapshot: RegistrySnapshot, why: str) -> None:
        """The root's params moved on (:class:`~cocoon.node.params_move.ParamsFollower`): retire the
        client contracts under the old params and reconnect to every proxy, opening new contracts
        under the new params as each proxy settles under them."""
        if self.payments is not None:
            await self.payments.move_to(snapshot.chain_params, why)
        self.links.reconnect_all(why, snapshot.params_version)

    async def _pick(
        self, model: str, tried: frozenset[str] = frozenset(), *, cocoon: bool = True
    ) -> tuple[str, RpcConnection | CocoonLink] | None:
        """The connected proxy to send a request for ``model`` to, ours or (``cocoon``) COCOON's, not
        one of ``tried`` (`cocoon.client.proxy_choice.ProxyChoice.pick`); None when no other serves it."""
        links = self._links(cocoon=cocoon)
        if self.choice.stale(self.clock.monotonic()):
            async with self._listing:  # one refresh for the requests arriving together
                if self.choice.stale(self.clock.monotonic()):
                    await self.models()
            links = self._links(cocoon=cocoon)
        loads = {address: link.active_streams for address, link in links.items()}
        address = self.choice.pick(model, loads, self.clock.monotonic(), tried)
        return None if address is None else (address, links[address])

    def _links(self, *, cocoon: bool) -> dict[str, RpcConnection | CocoonLink]:
        """The live proxy connections, ours and (``cocoon``) COCOON's; a 502 saying why when none is."""
        links: dict[str, RpcConnection | CocoonLink] = dict(self.connections)
        if cocoon and self.cocoon is not None:
            links.update(self.cocoon.links)
        if not links:
            errors = {**self.last_error, **(self.cocoon.last_error if self.cocoon else {})}
            detail = "; ".join(f"{p}: {e}" for p, e in errors.items()) or "still connecting"
            addresses = (self.links.addresses or self.proxies) + (
                self.cocoon.addresses if self.cocoon else []
            )
            if not cocoon and self.cocoon is not None and self.cocoon.links:
                detail += (
                    "; COCOON-protocol proxies cannot carry end-to-end encrypted requests (e2e = required)"
                )
            raise RequestError(
                f"the client is not connected to any proxy ({detail}); check that a proxy runs at "
                f"{', '.join(addresses)}",
                status=502,
                error_type="upstream_error",
                code="upstream_error",
            )
        return links

    async def run(self, request: ValidatedRequest, request_id: int) -> BackendAnswer:
        """Send ``request`` to the best proxy serving its model; until its answer begins, to the next
        one when a proxy fails it (`cocoon.client.proxy_choice.fails_over`)."""
        deadline = self.clock.monotonic() + request.timeout_s
        cocoon = self.e2e != "required"
        picked = await self._pick(request.model, cocoon=cocoon)
        tried: set[str] = set()
        while picked is not None:  # the first pick always finds one (or raises)
            address, conn = picked
            sent_at = self.clock.monotonic()
            try:
                answer = await self._attempt(address, conn, request, request_id)
            except RequestError as exc:  # refused before sending (end to end: no worker it could seal to)
                refusal = AnswerError(request_id, exc.status, exc.code or "", exc.message)
                picked = await self._next(request, refusal, address, tried, deadline)
                if picked is None:
                    raise
                continue
            if isinstance(answer, E2EAnswer):
                return answer  # it fails over itself, through `E2ESender`
            parts = aiter(answer)
            try:
                first = await anext(parts, None)
            except BaseException:
                await answer.cancel("the caller went away")
                raise
            primed = PrimedAnswer(answer, parts, first, address, sent_at, self.clock.monotonic())
            picked = await self._next(request, first, address, tried, deadline)
            if picked is None:
                return primed  # begun, refused, or nobody else can take it: the app gets it as it is
            request = dataclasses.replace(request, timeout_s=deadline - self.clock.monotonic())
        raise AssertionError("unreachable")

    async def _next(
        self,
        request: ValidatedRequest,
        first: AnswerPart | None,
        address: str,
        tried: set[str],
        deadline: float,
    ) -> tuple[str, RpcConnection | CocoonLink] | None:
        """After ``address`` answered ``request`` with ``first`` (its first part, or a refusal before
        sending): the proxy to send it to next; None when it does not fail over, no time is left, or
        no other proxy serves the model."""
        if not fails_over(first):
            return None
        self.choice.failed(address, self.clock.monotonic())
        tried.add(address)
        if deadline - self.clock.monotonic() < MIN_RESEND_S:
            return None
        try:
            picked = await self._pick(request.model, frozenset(tried), cocoon=self.e2e != "required")
        except RequestError:  # no proxy connected any more: the app gets this one's error
            return None
        if picked is not None:
            self.choice.failovers += 1
            why = (
                f"{first.status} {first.code}: {first.message}"
                if isinstance(first, AnswerError)
                else "no answer"
            )
            log.warning("proxy %s failed a request (%s); sending it to proxy %s", address, why, picked[0])
        return picked

    async def _attempt(
        self, address: str, conn: RpcConnection | CocoonLink, request: ValidatedRequest, request_id: int
    ) -> BackendAnswer:
        """Send ``request`` through ``address`` once, within ``request.timeout_s``."""
        if isinstance(conn, CocoonLink):
            try:
                return await conn.run(
                    request, request_id, Privacy.PLAINTEXT if self.e2e == "off" else Privacy.DOWNGRADED
                )
            except RequestError as exc:  # its connection closed before the request was sent
                return LostAnswer(request_id, address, exc.message)
        routing = routing_of(request, request_id)
        if self.e2e == "off" or self.e2e_sender is None:
            query = run_query_of(request, request_id, routing, request.timeout_s)
            return await send_query(address, conn, query, request.timeout_s)
        return await self.e2e_sender.attempt(address, conn, request, request_id, routing)

    async def models(self) -> list[dict[str, Any]]:
        """The OpenAI model list of every connected proxy, merged per model (see `client.model_list`);
        each proxy's own list is kept to route requests by (`ProxyChoice.listed`)."""
        links: list[tuple[str, RpcConnection | CocoonLink]] = list(self.connections.items())
        links += list(self.cocoon.links.items()) if self.cocoon else []
        listed = await asyncio.gather(*(ask_worker_types(address, link) for address, link in links))
        answers = [(address, types) for (address, _), types in zip(links, listed, strict=True) if types]
        self.choice.listed(
            {a: (t.model for t in types.types) for a, types in answers}, self.clock.monotonic()
        )
        return model_list(answers)

    async def status(self) -> dict[str, Any]:
        proxies: dict[str, Any] = {}
        for address in self.links.addresses or self.proxies:
            proxies[address] = await proxy_status(self.connections.get(address), self.last_error.get(address))
        payments = self.payments.stats() if self.payments else None
        e2e: dict[str, Any] = {"mode": self.e2e, **(self.workers.stats() if self.workers else {})}
        cocoon_payments = None
        if self.cocoon is not None:
            proxies.update(self.cocoon.status())
            if self.cocoon.long_auth is not None:
                cocoon_payments = self.cocoon.long_auth.stats()
        routing = self.choice.stats()
        return {
            "client_id": self.client_id,
            "proxies": proxies,
            "payments": payments,
            "cocoon_payments": cocoon_payments,
            "e2e": e2e,
            "routing": routing,
        }

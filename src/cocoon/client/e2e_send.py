"""Sending a request end to end (spec/e2e.md): sealed to verified workers, and again when they fail it.

Unless ``e2e`` is off, `cocoon.client.network.ProxyPool` hands every request for one of our own
proxies to `E2ESender.attempt`. The picked proxy's candidates are asked for and verified
(`cocoon.client.e2e_workers`); the request is sealed to the first verified ones, sent, and its answer
decrypted (`cocoon.client.e2e_answer.E2EAnswer`). When no listed worker can be verified, ``required``
refuses the request (503 ``e2e_unavailable``, saying which workers were refused and why) and
``preferred`` sends it in plaintext, as a counted and logged downgrade.

An answer that asks for fresh candidates (``e2e_reroute``/``e2e_key_unknown``), or one its proxy
failed before it began, is sealed again and sent under a new wire id through the proxy the pool picks
then (another one after a proxy's failure), while at least `MIN_RESEND_S` of its deadline is left:
the app sees one request. Only our own proxies are picked for it: COCOON-protocol proxies carry
requests in plaintext only. It is a class of its own, apart from the pool, because all of this is
one request's life end to end; the pool only lends it its pick among proxies and its failure counts.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable

from cocoon.api.error_codes import E2E_REROUTE
from cocoon.api.validation import ValidatedRequest
from cocoon.attestation.receipt_e2e import E2EExpectation
from cocoon.client.backend import BackendAnswer, Privacy
from cocoon.client.cocoon_proxy import CocoonLink
from cocoon.client.e2e_answer import E2EAnswer, SealedAttempt
from cocoon.client.e2e_workers import QUERY_TIMEOUT_S, CandidateSet, E2EWorkers
from cocoon.client.network_answer import run_query_of, send_query
from cocoon.client.proxy_choice import MIN_RESEND_S, ProxyChoice, fails_over
from cocoon.clock import Clock
from cocoon.e2e.envelope import Routing, seal_request
from cocoon.e2e.kem_reuse import ReusedEncapsulations
from cocoon.e2e.suite import Encapsulation
from cocoon.errors import E2EError, RequestError
from cocoon.net.rpc import RpcConnection
from cocoon.roles import E2EMode
from cocoon.wire.messages import AnswerError

log = logging.getLogger(__name__)

Pick = Callable[[str, frozenset[str]], Awaitable[tuple[str, RpcConnection | CocoonLink] | None]]
"""The pool's pick of one of our own proxies serving ``model``, not one of ``tried``; None when no
other serves it."""


class E2ESender:
    """The end-to-end side of `cocoon.client.network.ProxyPool` (see the module docstring)."""

    def __init__(
        self, mode: E2EMode, workers: E2EWorkers, choice: ProxyChoice, pick: Pick, clock: Clock
    ) -> None:
        """``mode``: ``required`` or ``preferred``; ``workers``: the candidates and their verdicts;
        ``choice``: the pool's, told which proxies failed a request; ``pick``: the pool's pick."""
        self.mode = mode
        self.workers = workers
        self.choice = choice
        self.pick = pick
        self.clock = clock
        self.encapsulations = ReusedEncapsulations(os.urandom)
        """One encapsulation per worker key for a minute: two X25519 less per request."""

    async def attempt(
        self, address: str, conn: RpcConnection, request: ValidatedRequest, request_id: int, routing: Routing
    ) -> BackendAnswer:
        """Send ``request`` through ``address`` once, within ``request.timeout_s``: sealed, or
        (``preferred``, no verified worker) in plaintext; `RequestError` when it cannot be sent."""
        deadline = self.clock.monotonic() + request.timeout_s
        found = await self._candidates(address, conn, request, deadline)
        if found.no_worker is not None:
            raise found.no_worker  # nobody could serve it, sealed or not: nothing to downgrade for
        if not found.chosen:
            if self.mode == "required":
                raise e2e_unavailable(address, request.model, found)
            (log.warning if found.fetched else log.debug)(
                "proxy %s: no verified end-to-end worker for %s (%s); sending in plaintext (e2e = preferred)",
                address,
                request.model,
                found.explain(),
            )
            query = run_query_of(request, request_id, routing, request.timeout_s)
            return await send_query(address, conn, query, request.timeout_s, Privacy.DOWNGRADED)
        first = await self._send_sealed(address, conn, request, request_id, routing, found, deadline)
        tried: set[str] = set()

        async def resend(attempt: SealedAttempt, error: AnswerError) -> SealedAttempt | None:
            if fails_over(error):  # the proxy failed it, not the workers' keys: another proxy
                tried.add(attempt.proxy)
            if fails_over(error) or error.code == E2E_REROUTE:  # its workers failed: it weighs more
                self.choice.failed(attempt.proxy, self.clock.monotonic())
            return await self._resend(attempt, request, routing, deadline, frozenset(tried))

        def stale(attempt: SealedAttempt) -> None:  # its list named workers gone: ask it again next time
            self.workers.invalidate(
                attempt.proxy, routing.model, routing.endpoint, routing.max_coefficient, stale=True
            )

        return E2EAnswer(first, resend, stale=stale)

    async def _candidates(
        self, address: str, conn: RpcConnection, request: ValidatedRequest, deadline: float
    ) -> CandidateSet:
        timeout_s = max(0.1, min(QUERY_TIMEOUT_S, deadline - self.clock.monotonic()))
        return await self.workers.candidates(
            address, conn, request.model, request.path, request.max_coefficient, timeout_s=timeout_s
        )

    async def _send_sealed(
        self,
        address: str,
        conn: RpcConnection,
        request: ValidatedRequest,
        request_id: int,
        routing: Routing,
        found: CandidateSet,
        deadline: float,
    ) -> SealedAttempt:
        """Seal the validated body to ``found``'s workers and send it through ``address``."""
        keys = [(worker.key.key_id, worker.key.public_key) for worker in found.chosen]
        try:
            sealed = seal_request(
                request.engine_body_bytes(),
                routing,
                keys,
                issued_at=int(self.clock.time()),
                random_bytes=os.urandom,
                encapsulation_to=self._encapsulation_to,
            )
        except E2EError as exc:  # a verified key that still does not take a seal: refuse, never plaintext
            raise RequestError(
                f"the request could not be sealed to the workers behind proxy {address}: {exc.message}",
                status=502,
                error_type="upstream_error",
                code="upstream_error",
            ) from exc
        remaining = deadline - self.clock.monotonic()
        query = run_query_of(request, request_id, routing, remaining, sealed.envelope)
        answer = await send_query(address, conn, query, remaining, Privacy.E2E)
        expectation = E2EExpectation(
            routing.client_request_id,
            routing.model,
            sealed.secret.h,
            sealed.envelope.sha256(),
            routing.max_tokens,
            routing.n,
            key_ids=sealed.header.key_ids,
        )
        return SealedAttempt(answer, sealed, found.chosen, expectation, address)

    def _encapsulation_to(self, public_key: bytes) -> Encapsulation:
        return self.encapsulations.to(public_key, self.clock.monotonic())

    async def _resend(
        self,
        attempt: SealedAttempt,
        request: ValidatedRequest,
        routing: Routing,
        deadline: float,
        tried: frozenset[str] = frozenset(),
    ) -> SealedAttempt | None:
        """After ``e2e_reroute``/``e2e_key_unknown``, or a proxy's failure (it is then in ``tried``):
        fresh candidates, sealed again, sent under a new wire id (the client request id stays); None
        when too little of the deadline is left or no other proxy serves the model."""
        if deadline - self.clock.monotonic() < MIN_RESEND_S:
            return None
        self.workers.invalidate(attempt.proxy, routing.model, routing.endpoint, routing.max_coefficient)
        picked = await self.pick(routing.model, tried)
        if picked is None:
            return None
        address, conn = picked
        if address != attempt.proxy:
            self.choice.failovers += 1
        assert not isinstance(conn, CocoonLink)  # the pick is among our own connections only
        found = await self._candidates(address, conn, request, deadline)
        if found.no_worker is not None:
            raise found.no_worker
        if not found.chosen:
            raise e2e_unavailable(address, routing.model, found)
        wire_id = secrets.randbits(63)
        return await self._send_sealed(address, conn, request, wire_id, routing, found, deadline)


def e2e_unavailable(proxy: str, model: str, found: CandidateSet) -> RequestError:
    """The 503 of a request that must be end-to-end encrypted when no listed worker can be verified."""
    return RequestError(
        f"No worker behind proxy {proxy} can take an end-to-end encrypted request for model {model}: "
        f"{found.explain()}. Nothing was sent. Retry later; check that the workers run a version with "
        "end-to-end keys and pass this client's worker_policy, allowed_worker_image_hashes and "
        'allowed_model_hashes; or set e2e = "preferred" to send in plaintext when no worker can.',
        status=503,
        error_type="e2e_unavailable",
        code="e2e_unavailable",
    )

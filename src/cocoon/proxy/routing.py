"""One client request through the proxy: reserve, choose a worker, relay, meter, charge.

Failure rules (DESIGN.md): a worker that fails before the first chunk is retried on another worker
(bounded); a worker's error is judged by its code alone (`cocoon.api.error_codes.worker_fault`): the
request's fault (an engine's 4xx, a parameter the engine does not support) is passed on and never
retried, an engine failure is retried at most once elsewhere and the caller reads what each engine
said, an unknown code counts as an engine failure; after the first chunk the client gets an error
and pays only for what the worker reported as delivered; if no worker has a free slot the request
waits in a bounded queue; a cancelled client request cancels the worker side (leaving the worker's
answer stream cancels it).

End-to-end encrypted requests (``RunQuery.e2e``, spec/e2e.md): the proxy reads only the envelope's
header, refuses (400, nothing reserved) one whose routing fields differ from the request's, reserves
for the ciphertext's size, and forwards the envelope unchanged only to workers whose end-to-end key
ids the header lists, retrying on another listed one before the first chunk; when none is left it
answers `e2e_reroute` (the client seals again to fresh candidates). It hashes every frame it relays
and verifies the worker's v2 receipt against those bytes before charging: a receipt that is missing or
differs is never charged, the client gets a 502 and the worker is flagged.

The router's parts, each in its module: what it writes an answer through (:mod:`.answer_writer`),
the parts of a whole answer it holds until the charge commits (:mod:`.held_answer`), a request
waiting for a free slot (:mod:`.slot_wait`), what it reads of an end-to-end request and checks of
its receipt (:mod:`.e2e_routing`), what the caller reads when no worker serves it (:mod:`.no_worker`)
and what it measures of each try (:mod:`.try_measure`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from cocoon.api.error_codes import (
    E2E_REROUTE,
    E2E_REROUTE_STATUS,
    ENDPOINT_NOT_SERVED,
    INVALID_REQUEST,
    UPSTREAM_ERROR,
    Fault,
    worker_fault,
)
from cocoon.api.validation import generates_tokens
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import (
    ConnectionClosedError,
    E2EError,
    InsufficientFundsError,
    PaymentError,
    RequestCancelledError,
)
from cocoon.metrics import Histogram
from cocoon.net.rpc_stream import RpcAnswerStream
from cocoon.proxy.accounts import ClientBook, RequestCost
from cocoon.proxy.admission import worker_attestation_headers
from cocoon.proxy.answer_writer import AnswerWriter, ChargeAware
from cocoon.proxy.e2e_routing import E2ERelay, E2ERequest, read_e2e_request, reroute_now
from cocoon.proxy.held_answer import HeldAnswer
from cocoon.proxy.no_worker import RetryElsewhere, from_worker, given_up, no_worker_for
from cocoon.proxy.selection import Chosen, EndpointNotServed, NoCapacity, NoSuchModel, PriceTooLow
from cocoon.proxy.slot_wait import SlotWait
from cocoon.proxy.try_measure import ProxyHop, TryMeasure
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.headers import E2E_STALE_KEYS
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, RunQuery
from cocoon.wire.timeouts import inner_timeout_ms

log = logging.getLogger(__name__)


@dataclass
class RoutingCounters:
    routed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    refused_funds: int = 0
    refused_invalid: int = 0
    refused_model: int = 0
    refused_endpoint: int = 0
    refused_price: int = 0
    refused_capacity: int = 0
    cancelled: int = 0
    charged_nano: int = 0
    e2e_routed: int = 0
    """End-to-end encrypted requests accepted for routing."""
    e2e_rerouted: int = 0
    """... answered `e2e_reroute`: no worker they are sealed to could take them."""
    e2e_refused_header: int = 0
    """... refused before reserving: the envelope's header is unreadable or differs from the request."""
    receipt_mismatches: int = 0
    """End-to-end answers whose worker receipt was missing or did not match what was relayed (never
    charged)."""
    prompt_tokens: int = 0
    """Prompt tokens charged (as the workers reported them, before the coefficient)."""
    completion_tokens: int = 0
    """Completion tokens charged (a failed answer's: what it delivered)."""


class Router:
    """Routes client requests to workers and records what each cost in the ledger."""

    def __init__(
        self,
        workers: WorkerPool,
        book: ClientBook,
        proxy_id: str,
        *,
        max_retries: int = 2,
        max_engine_retries: int = 1,
        queue_timeout_s: float = 5.0,
        rng: random.Random | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.workers = workers
        self.book = book
        self.proxy_id = proxy_id
        self.max_retries = max_retries
        self.max_engine_retries = max_engine_retries
        self.queue_timeout_s = queue_timeout_s
        self.rng = rng or random.Random()
        self.clock = clock
        self.counters = RoutingCounters()
        # The sequence in every request's key (`request_key`), from the wall clock in µs: it keeps
        # growing across restarts, so the ledger appends each client's rows where its last ones are.
        self._next_id = int(clock.time() * 1_000_000)
        self.in_flight = 0
        """Requests routed and not finished (waiting for a worker included)."""
        self.queued = 0
        """Requests waiting for a free worker slot."""
        self.first_token = Histogram()
        """Seconds from a request's arrival to the first chunk relayed to its client."""
        self.latency = Histogram()
        """Seconds from a request's arrival to its end, for every routed request not cancelled."""
        self._arrived: dict[str, float] = {}  # request key -> monotonic arrival, while in flight

    async def handle(self, client_id: str, request: RunQuery, responder: AnswerWriter) -> None:
        """The `on_run_query` handler of a client connection."""
        self._next_id += 1
        key = request_key(client_id, self._next_id, request.request_id)
        try:
            e2e = read_e2e_request(request)
        except E2EError as exc:
            self.counters.e2e_refused_header += 1
            await responder.error(400, exc.code, exc.message)
            return
        # What the proxy can see of the request's size: the ciphertext of an encrypted one.
        size = len(e2e.envelope.ciphertext) if e2e is not None else len(request.body)
        try:
            self.book.reserve(
                key,
                client_id,
                request.max_tokens,
                size,
                request.max_coefficient,
                generates=generates_tokens(request.path),
            )
        except InsufficientFundsError as exc:
            self.counters.refused_funds += 1
            await responder.error(402, "insufficient_funds", str(exc))
            return
        except PaymentError as exc:  # numbers no reservation can be made for (a budget of 0, ...)
            self.counters.refused_invalid += 1
            await responder.error(400, INVALID_REQUEST, str(exc))
            return
        self.counters.routed += 1
        if e2e is not None:
            self.counters.e2e_routed += 1
        self.in_flight += 1
        arrived = self._arrived[key] = self.clock.monotonic()
        try:
            await self._dispatch(key, request, responder, e2e)
            self.latency.observe(self.clock.monotonic() - arrived)
        except asyncio.CancelledError:
            self.counters.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
            del self._arrived[key]
            self.book.release(key)  # no-op once recorded

    async def _dispatch(
        self, key: str, request: RunQuery, responder: AnswerWriter, e2e: E2ERequest | None = None
    ) -> None:
        tried: set[str] = set()
        failures: list[RetryElsewhere] = []
        # Absolute, on our monotonic clock: the client's whole budget (the worker gets a share of it).
        deadline = self.clock.monotonic() + request.timeout_ms / 1000 if request.timeout_ms else None
        while True:
            link = await self._choose(request, responder, tried, deadline, failures, e2e)
            if link is None:
                return
            tried.add(link.worker_id)
            try:
                await self._run_on(link, key, request, responder, e2e)
                return
            except RetryElsewhere as why:
                failures.append(why)
                engine_failures = sum(failure.engine for failure in failures)
                if engine_failures > self.max_engine_retries or (
                    len(tried) > self.max_retries and e2e is None
                ):
                    self.counters.failed += 1
                    await responder.error(502, UPSTREAM_ERROR, given_up(failures))
                    return
                if len(tried) > self.max_retries:  # end-to-end: the client seals to other workers
                    await self._reroute(responder, failures)
                    return
                self.counters.retried += 1
                log.info("retrying request on another worker: %s", why)

    async def _choose(
        self,
        request: RunQuery,
        responder: AnswerWriter,
        tried: set[str],
        deadline: float | None,
        failures: list[RetryElsewhere],
        e2e: E2ERequest | None = None,
    ) -> WorkerLink | None:
        """A worker with a free slot, waiting in the queue if all are busy; None after answering an error.

        An end-to-end request may go only to the workers its envelope is sealed to: when none of them
        is left (none connected, all tried, all above its price ceiling), or all are busy while another
        worker is free, it is answered `e2e_reroute`."""
        queue_until = self.clock.monotonic() + self.queue_timeout_s
        if deadline is not None:
            queue_until = min(queue_until, deadline)
        waiter: SlotWait | None = None  # kept across the tries of this call: its place in line
        try:
            while True:
                allowed = self.workers.sealed_to(e2e.key_ids) if e2e is not None else None
                choice = self.workers.choose(
                    request.model,
                    request.max_coefficient,
                    self.rng,
                    tried,
                    endpoint=request.path,
                    allowed=allowed,
                    now=self.clock.monotonic(),
                )
                if waiter is not None:  # it chose again: the wake it was given is spent (before any await)
                    took = choice.worker.worker_id if isinstance(choice, Chosen) else None
                    self.workers.settle(waiter.waiter, took)
                if e2e is not None and reroute_now(choice, self.workers, request, tried, self.rng):
                    await self._reroute(responder, failures)
                    return None
                match choice:
                    case Chosen(worker):
                        return self.workers.links[worker.worker_id]
                    case NoSuchModel() if tried:
                        self.counters.failed += 1
                        why = f"; {given_up(failures)}" if failures else ""
                        await responder.error(502, UPSTREAM_ERROR, f"every worker for this model failed{why}")
                    case NoSuchModel() | EndpointNotServed() | PriceTooLow():
                        refused = no_worker_for(choice, request.model, request.max_coefficient)
                        self._count_refusal(refused.code)
                        await responder.error(refused.status, refused.code, refused.message)
                    case NoCapacity():
                        remaining = queue_until - self.clock.monotonic()
                        if remaining > 0:
                            if waiter is None:
                                waiter = SlotWait.join(self.workers, request, tried)
                                self.queued += 1
                            else:
                                self.workers.rearm(waiter.waiter)
                            await waiter.sleep(remaining)
                            continue
                        self.counters.refused_capacity += 1
                        busy = "all workers for this model are busy; retry"
                        await responder.error(503, "no_capacity", busy)
                return None
        finally:
            if waiter is not None:
                self.queued -= 1
                self.workers.stop_waiting(waiter.waiter)

    def _count_refusal(self, code: str) -> None:
        if code == "model_not_found":
            self.counters.refused_model += 1
        elif code == ENDPOINT_NOT_SERVED:
            self.counters.refused_endpoint += 1
        else:
            self.counters.refused_price += 1

    async def _reroute(self, responder: AnswerWriter, failures: list[RetryElsewhere]) -> None:
        self.counters.failed += 1
        self.counters.e2e_rerouted += 1
        why = f" ({given_up(failures)})" if failures else ""
        message = (
            "no worker this request is end-to-end encrypted to can take it now"
            f"{why}; fetch fresh end-to-end candidates, encrypt the request to them and send it again"
        )
        await responder.error(E2E_REROUTE_STATUS, E2E_REROUTE, message)

    async def _run_on(
        self,
        link: WorkerLink,
        key: str,
        request: RunQuery,
        responder: AnswerWriter,
        e2e: E2ERequest | None = None,
    ) -> None:
        assert link.state is not None
        coefficient = link.state.coefficient
        forwarded = RunQuery(
            request_id=link.conn.new_request_id(),
            model=request.model,
            body=request.body,
            max_coefficient=request.max_coefficient,
            max_tokens=request.max_tokens,
            timeout_ms=inner_timeout_ms(request.timeout_ms),
            coefficient=coefficient,
            path=request.path,
            debug=request.debug,
            client_request_id=request.client_request_id,
            e2e=request.e2e,  # byte for byte: the worker checks its hash, signed into the receipt
        )
        link.active += 1
        measure = TryMeasure(self.clock.monotonic())
        ok = False
        try:
            stream = await link.conn.run_query(forwarded)
            async with stream:
                relay = (
                    E2ERelay(e2e, forwarded, self.workers.unheld(e2e.key_ids)) if e2e is not None else None
                )
                # Only when asked: a request sent with ``debug``.
                hop = ProxyHop(self._arrived[key], measure.started) if request.debug else None
                ok = await self._relay(link, key, stream, responder, coefficient, relay, measure, hop)
        except (ConnectionClosedError, RequestCancelledError) as exc:
            if responder.finished:
                return
            if not _started(responder):
                raise RetryElsewhere(f"worker {link.worker_id} connection lost: {exc}") from exc
            self.counters.failed += 1
            await responder.error(502, "upstream_error", f"worker {link.worker_id} disconnected mid-answer")
        finally:
            link.active -= 1
            now = self.clock.monotonic()
            link.observe(measure.outcome(ok, now), now)

    async def _relay(
        self,
        link: WorkerLink,
        key: str,
        stream: RpcAnswerStream,
        responder: AnswerWriter,
        coefficient: int,
        e2e: E2ERelay | None,
        measure: TryMeasure,
        hop: ProxyHop | None = None,
    ) -> bool:
        """Relay the worker's answer (head, chunks byte for byte) and charge the usage it reports; for an
        end-to-end answer (``e2e``) hash each frame and charge only what a receipt matching them signs.
        ``measure`` notes when the first chunk came and what the answer was, for routing; ``hop``: this
        proxy's timings of a request sent with ``debug``."""
        first = True  # no retry once a chunk was relayed: this try's first chunk is the request's
        # Parts of an answer not known to stream that arrived with its end already received (a whole
        # non-streamed answer) are held and go out with the end, after the charge's commit, in one
        # write: the client cannot finish before the end anyway. A part whose end has not arrived yet,
        # or of a plaintext stream, is relayed at once, so a stream's chunks still go out as they come
        # (an end-to-end answer's streaming is sealed: only its parts that came with its end wait).
        held = HeldAnswer()
        async for part in stream:
            match part:
                case AnswerHead(status=status, headers=headers, e2e_nonce=nonce):
                    measure.head(headers, e2e is not None)
                    if hop is not None:
                        hop.first_byte = self.clock.monotonic()
                    head_headers = self._head_headers(link, headers)
                    if e2e is not None and e2e.unheld:
                        head_headers += ((E2E_STALE_KEYS, str(e2e.unheld)),)
                    if stream.ended and measure.streamed is not True:
                        held.head = (status, head_headers, nonce)
                    else:
                        await responder.head(status, head_headers, e2e_nonce=nonce)
                case AnswerChunk(data=data):
                    now = self.clock.monotonic()
                    measure.chunk(now)
                    if first:
                        first = False
                        self.first_token.observe(now - self._arrived[key])
                    if e2e is not None:
                        e2e.frames.add(data)
                    if stream.ended and measure.streamed is not True:
                        held.chunks.append(data)
                    else:
                        await held.release(responder)  # empty: the end had not come with earlier parts
                        await responder.chunk(data)
                case AnswerEnd(usage=usage, timings=timings, receipt=receipt, debug=worker_debug):
                    if e2e is not None and (why := e2e.receipt_refusal(link, usage, receipt)) is not None:
                        await held.release(responder)
                        await self._refuse_receipt(link, responder, why)
                        return False
                    measure.completion_tokens = usage.completion_tokens
                    cost = self._record(link, key, usage, coefficient)
                    await self.book.durable()  # committed before the client learns the cost
                    self.counters.succeeded += 1
                    await held.release(responder)  # queued, not yet written: one write with the end
                    await responder.end(
                        usage,
                        timings,
                        cost.adjusted_tokens,
                        cost.cost_nano,
                        receipt,
                        cost.prompt_cost_nano,
                        debug=hop.timings(self.clock.monotonic(), worker_debug) if hop else None,
                    )
                    return True
                case AnswerError(
                    status=status, code=code, message=message, usage=usage, param=param, receipt=receipt
                ):
                    await held.release(responder)  # as if relayed on arrival: no retry after a head
                    fault = worker_fault(status, code)
                    if not _started(responder) and fault is not Fault.REQUEST:
                        raise RetryElsewhere(from_worker(link, message), engine=fault is Fault.ENGINE)
                    if usage is not None and e2e is not None:
                        usage = self._receipted(link, e2e, usage, receipt)
                    if usage is not None:
                        cost = self._record(link, key, usage, coefficient)  # pay for what was delivered
                        await self.book.durable()
                        if isinstance(responder, ChargeAware):
                            responder.charged(cost)
                    self.counters.failed += 1
                    if fault is Fault.ENGINE:  # whatever status or unknown code the worker gave it
                        status, code, param = 502, UPSTREAM_ERROR, None
                    await responder.error(status, code, message, usage, param=param, receipt=receipt)
                    return False
        return False

    def _receipted(
        self, link: WorkerLink, e2e: E2ERelay, usage: Usage, receipt: bytes | None
    ) -> Usage | None:
        """The usage so far of a failed end-to-end answer, as far as its (partial) receipt signs it."""
        if receipt is None and usage == NO_USAGE:
            return None  # nothing used, nothing signed: nothing to charge or to flag
        if (why := e2e.receipt_refusal(link, usage, receipt)) is not None:
            self._flag(link, why)
            return None
        return usage

    def _head_headers(
        self, link: WorkerLink, headers: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, str], ...]:
        """The worker's head headers, plus who answered and the attested key and statement."""
        return (
            *headers,
            ("x-cocoon-worker", link.worker_id),
            ("x-cocoon-proxy", self.proxy_id),
            *worker_attestation_headers(link.attested, headers),
        )

    def _flag(self, link: WorkerLink, why: str) -> None:
        """Count a worker receipt that does not match what was relayed (nothing was charged for it)."""
        self.counters.receipt_mismatches += 1
        self.workers.flag_receipt_mismatch(link.worker_id)
        log.warning(
            "worker %s: its end-to-end receipt does not match the answer relayed (%s); nothing charged",
            link.worker_id,
            why,
        )

    async def _refuse_receipt(self, link: WorkerLink, responder: AnswerWriter, why: str) -> None:
        self._flag(link, why)
        self.counters.failed += 1
        await responder.error(
            502,
            UPSTREAM_ERROR,
            f"worker {link.worker_id}: its signed receipt does not match the answer this proxy relayed "
            f"({why}); nothing was charged",
        )

    def _record(self, link: WorkerLink, key: str, usage: Usage, coefficient: int) -> RequestCost:
        # `usage` already holds its invariants: a worker's message breaking them did not decode.
        assert link.state is not None
        cost = self.book.record(
            key, usage, coefficient, link.worker_id, link.state.owner, self.clock.time(), defer=True
        )
        self.counters.charged_nano += cost.cost_nano
        self.counters.prompt_tokens += usage.prompt_tokens
        self.counters.completion_tokens += usage.completion_tokens
        return cost


def request_key(client_id: str, sequence: int, request_id: int) -> str:
    """The key of one routed request (its reservation, its ledger row): unique by the proxy's
    ``sequence`` and the client's ``request_id``, and ordered by the sequence within a client.

    The order is what keeps the ledger fast: the rows of a batch land on the last page or two of the
    client's part of the table, where keys ordered by the client's (random) request id wrote a page
    of their own each: about three times the writes per commit, and more the larger the table
    (`benchmarks/bench_ledger.py`)."""
    return f"{client_id}:{sequence:016x}:{request_id}"


def _started(responder: AnswerWriter) -> bool:
    """Whether anything of the answer reached the client (then no retry is possible)."""
    return responder.head_sent

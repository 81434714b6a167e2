"""One client request through the proxy: reserve, choose a worker, relay, meter, charge.

Failure rules (DESIGN.md): a worker that fails before the first chunk is retried on another worker
(bounded); a worker's error is judged by its code alone (`cocoon.api.error_codes.worker_fault`): the
request's fault (an engine's 4xx, a parameter the engine does not support) is passed on and never
retried, an engine failure is retried at most once elsewhere and the caller reads what each engine
said, an unknown code counts as an engine failure; after the first chunk the client gets an error
and pays only for what the worker reported as delivered; if no worker has a free slot the request
waits in a bounded queue; a cancelled client request cancels the worker side (leaving the worker's
answer stream cancels it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

from cocoon.api.error_codes import (
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
    InsufficientFundsError,
    PaymentError,
    RequestCancelledError,
)
from cocoon.net.rpc_stream import Responder, RpcAnswerStream
from cocoon.proxy.accounts import ClientBook, RequestCost
from cocoon.proxy.admission import worker_attestation_headers
from cocoon.proxy.selection import (
    Chosen,
    EndpointNotServed,
    NoCapacity,
    NoSuchModel,
    PriceTooLow,
    choose_worker,
)
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.usage import Usage
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


class _RetryElsewhere(Exception):
    """The worker failed before its first chunk: try another one (``engine``: its engine failed)."""

    def __init__(self, message: str, *, engine: bool = False) -> None:
        super().__init__(message)
        self.engine = engine


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
        self._next_id = 0

    async def handle(self, client_id: str, request: RunQuery, responder: Responder) -> None:
        """The `on_run_query` handler of a client connection."""
        self._next_id += 1
        key = f"{client_id}:{request.request_id}:{self._next_id}"
        try:
            self.book.reserve(
                key,
                client_id,
                request.max_tokens,
                len(request.body),
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
        try:
            await self._dispatch(key, request, responder)
        except asyncio.CancelledError:
            self.counters.cancelled += 1
            raise
        finally:
            self.book.release(key)  # no-op once recorded

    async def _dispatch(self, key: str, request: RunQuery, responder: Responder) -> None:
        tried: set[str] = set()
        failures: list[_RetryElsewhere] = []
        # Absolute, on our monotonic clock: the client's whole budget (the worker gets a share of it).
        deadline = self.clock.monotonic() + request.timeout_ms / 1000 if request.timeout_ms else None
        while True:
            link = await self._choose(request, responder, tried, deadline, failures)
            if link is None:
                return
            tried.add(link.worker_id)
            try:
                await self._run_on(link, key, request, responder)
                return
            except _RetryElsewhere as why:
                failures.append(why)
                engine_failures = sum(failure.engine for failure in failures)
                if len(tried) > self.max_retries or engine_failures > self.max_engine_retries:
                    self.counters.failed += 1
                    await responder.error(502, UPSTREAM_ERROR, _given_up(failures))
                    return
                self.counters.retried += 1
                log.info("retrying request on another worker: %s", why)

    async def _choose(
        self,
        request: RunQuery,
        responder: Responder,
        tried: set[str],
        deadline: float | None,
        failures: list[_RetryElsewhere],
    ) -> WorkerLink | None:
        """A worker with a free slot, waiting in the queue if all are busy; None after answering an error."""
        queue_until = self.clock.monotonic() + self.queue_timeout_s
        if deadline is not None:
            queue_until = min(queue_until, deadline)
        while True:
            choice = choose_worker(
                self.workers.candidates(),
                request.model,
                request.max_coefficient,
                self.rng,
                tried,
                endpoint=request.path,
            )
            match choice:
                case Chosen(worker):
                    return self.workers.links[worker.worker_id]
                case NoSuchModel() if tried:
                    self.counters.failed += 1
                    why = f"; {_given_up(failures)}" if failures else ""
                    await responder.error(502, UPSTREAM_ERROR, f"every worker for this model failed{why}")
                case NoSuchModel(model):
                    self.counters.refused_model += 1
                    await responder.error(404, "model_not_found", f"no worker serves model {model!r} now")
                case EndpointNotServed(endpoint, model, workers, served):
                    self.counters.refused_endpoint += 1
                    await responder.error(
                        404, ENDPOINT_NOT_SERVED, _not_served(endpoint, model, workers, served)
                    )
                case PriceTooLow(cheapest):
                    self.counters.refused_price += 1
                    message = (
                        f"every worker for {request.model!r} asks more than max_coefficient "
                        f"{request.max_coefficient}; the cheapest coefficient available is {cheapest}"
                    )
                    await responder.error(400, "price_too_low", message)
                case NoCapacity():
                    remaining = queue_until - self.clock.monotonic()
                    if remaining > 0:
                        await self._wait_for_capacity(remaining)
                        continue
                    self.counters.refused_capacity += 1
                    await responder.error(503, "no_capacity", "all workers for this model are busy; retry")
            return None

    async def _wait_for_capacity(self, within: float) -> None:
        cond = self.workers.capacity_changed
        async with cond:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cond.wait(), within)

    async def _run_on(self, link: WorkerLink, key: str, request: RunQuery, responder: Responder) -> None:
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
        )
        link.active += 1
        started = self.clock.monotonic()
        ok = False
        try:
            stream = await link.conn.run_query(forwarded)
            async with stream:
                ok = await self._relay(link, key, stream, responder, coefficient)
        except (ConnectionClosedError, RequestCancelledError) as exc:
            if responder.finished:
                return
            if not _started(responder):
                raise _RetryElsewhere(f"worker {link.worker_id} connection lost: {exc}") from exc
            self.counters.failed += 1
            await responder.error(502, "upstream_error", f"worker {link.worker_id} disconnected mid-answer")
        finally:
            link.active -= 1
            link.observe(ok, self.clock.monotonic() - started if ok else None)
            await self.workers.notify()

    async def _relay(
        self, link: WorkerLink, key: str, stream: RpcAnswerStream, responder: Responder, coefficient: int
    ) -> bool:
        async for part in stream:
            match part:
                case AnswerHead(status=status, headers=headers):
                    headers = (
                        *headers,
                        ("x-cocoon-worker", link.worker_id),
                        ("x-cocoon-proxy", self.proxy_id),
                        *worker_attestation_headers(link.attested, headers),
                    )
                    await responder.head(status, headers)
                case AnswerChunk(data=data):
                    await responder.chunk(data)
                case AnswerEnd(usage=usage, timings=timings, receipt=receipt):
                    cost = self._record(link, key, usage, coefficient)
                    self.counters.succeeded += 1
                    await responder.end(
                        usage,
                        timings,
                        cost.adjusted_tokens,
                        cost.cost_nano,
                        receipt,
                        cost.prompt_cost_nano,
                    )
                    return True
                case AnswerError(status=status, code=code, message=message, usage=usage, param=param):
                    fault = worker_fault(status, code)
                    if not _started(responder) and fault is not Fault.REQUEST:
                        raise _RetryElsewhere(_from_worker(link, message), engine=fault is Fault.ENGINE)
                    if usage is not None:
                        self._record(link, key, usage, coefficient)  # pay for what was delivered
                    self.counters.failed += 1
                    if fault is Fault.ENGINE:  # whatever status or unknown code the worker gave it
                        status, code, param = 502, UPSTREAM_ERROR, None
                    await responder.error(status, code, message, usage, param=param)
                    return False
        return False

    def _record(self, link: WorkerLink, key: str, usage: Usage, coefficient: int) -> RequestCost:
        # `usage` already holds its invariants: a worker's message breaking them did not decode.
        assert link.state is not None
        cost = self.book.record(key, usage, coefficient, link.worker_id, link.state.owner, self.clock.time())
        self.counters.charged_nano += cost.cost_nano
        return cost


def _from_worker(link: WorkerLink, message: str) -> str:
    """The worker's message, naming the worker unless it already does."""
    return message if link.worker_id in message else f"worker {link.worker_id}: {message}"


def _given_up(failures: list[_RetryElsewhere]) -> str:
    """What the caller reads when every try failed: how many, and what each worker (or engine) said."""
    if len(failures) == 1:
        return f"the request failed on its worker: {failures[0]}"
    retries = len(failures) - 1
    times = "once" if retries == 1 else f"{retries} times"
    tries = "; then ".join(str(failure) for failure in failures)
    return f"the request failed on {len(failures)} workers (retried {times} elsewhere): {tries}"


def _started(responder: Responder) -> bool:
    """Whether anything of the answer reached the client (then no retry is possible)."""
    return responder.head_sent


def _not_served(endpoint: str, model: str, workers: tuple[str, ...], served: tuple[str, ...]) -> str:
    """Why no worker takes a request for ``endpoint``: whose engines lack it, and what they serve."""
    names = ", ".join(workers[:5]) + (f" and {len(workers) - 5} more" if len(workers) > 5 else "")
    return (
        f"No worker for model {model!r} serves {endpoint}: the engines of its {len(workers)} worker(s) "
        f"({names}) serve {', '.join(served) or 'nothing they declared'}. Use one of those endpoints, or a "
        f"model whose workers list {endpoint} in /v1/models (its 'endpoints')."
    )

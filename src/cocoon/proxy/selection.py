"""Choosing a worker for a request: a pure function of the candidates, the request and a random source.

Rules (DESIGN.md, request lifecycle step 3): the model must match, the worker must have declared the
request's endpoint (when one is given: the OpenAI path, probed by the worker at start), the worker's
coefficient must not exceed the client's `max_coefficient`, the worker must be enabled and have a free
slot; among those, `CHOICES` are sampled at random and the one with the lowest expected cost wins (the
power of d choices), which spreads load without herding onto one "best" worker, and with three a slow
worker is taken only when all three drawn are slow (with two, one request in sixteen goes to a slow
worker when a quarter of the fleet is slow). Expected cost is the expected time of a reference answer
(`cocoon.proxy.estimates`: decayed time to first token plus time per output token, never the whole
time of the last request), scaled by how busy the worker is, divided by its decayed success rate.
Costs within `TIE_RATIO` of the lowest are a tie (measurements are noisy: equal workers share the load
rather than one winning every request by a hair): the lowest coefficient wins it, then a coin toss.
A little exploration keeps the estimates honest: a worker never measured looks as good as can be, and
a worker left idle looks better as its evidence fades (`cocoon.proxy.estimates.optimistic`, at the
``now`` the caller passes), so new and idle workers get probe requests when drawn, without a share
of random traffic that would hurt every request.

End-to-end encrypted requests (spec/e2e.md) go only to the workers their envelope is sealed to:
`choose_worker` takes them as ``allowed``. Clients learn those workers from `e2e_candidates`: the
eligible workers that publish an end-to-end key, best first (most free slots, then the higher success
rate, then the lower latency).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from cocoon.proxy.estimates import optimistic

CHOICES = 3
"""How many ready workers are drawn for each request (the best of them takes it)."""
TIE_RATIO = 1.2
"""Two expected costs closer than this factor are a tie (price, then a coin toss, decides)."""


@dataclass(frozen=True, slots=True)
class WorkerCandidate:
    """What the proxy knows about one worker connection when it routes a request."""

    worker_id: str
    model: str
    coefficient: int
    max_active: int
    active: int
    enabled: bool = True
    expected_latency_s: float = 1.0
    """Seconds a reference answer is expected to take (`cocoon.proxy.estimates.WorkerStats.expected_s`)."""
    success_rate: float = 1.0
    evidence: float = 0.0
    """The decayed count of outcomes behind the two figures above, as of `measured_at` (0: not learned,
    the figures are taken as they are)."""
    measured_at: float = 0.0
    """When the worker's last outcome was measured (the proxy's monotonic clock, seconds)."""
    endpoints: tuple[str, ...] = ()
    """The OpenAI paths the worker declared in its offer (`WorkerState.endpoints`)."""
    e2e_key_ids: tuple[bytes, ...] = ()
    """The end-to-end key ids the worker's verified certificates published (current, previous)."""
    e2e_certificate_sha256: bytes = b""
    """SHA-256 of the verified certificate that publishes the worker's current end-to-end key (empty:
    it publishes none, so no client is told to encrypt to it)."""
    e2e_not_after: int = 0
    """Unix seconds after which clients must not encrypt to that key."""

    @property
    def has_capacity(self) -> bool:
        return self.enabled and self.active < self.max_active

    @property
    def free_slots(self) -> int:
        return max(self.max_active - self.active, 0) if self.enabled else 0

    def offers_e2e_key(self, now: float) -> bool:
        """Whether clients may encrypt to this worker now: its current certificate has a live key."""
        return bool(self.e2e_certificate_sha256) and self.e2e_not_after > now

    def expected_cost(self, now: float | None = None) -> float:
        """Lower is better: latency grows with the share of busy slots, failures inflate it; both as
        routed by at ``now`` (little evidence left: optimistic, see `optimistic`)."""
        seconds, success = optimistic(
            self.expected_latency_s, self.success_rate, self.evidence, self.measured_at, now
        )
        busy = (self.active + 1) / max(self.max_active, 1)
        return seconds * (1.0 + busy) / max(success, 0.01)


@dataclass(frozen=True, slots=True)
class Chosen:
    worker: WorkerCandidate


@dataclass(frozen=True, slots=True)
class NoSuchModel:
    """No connected worker serves the model (HTTP 404 model_not_found)."""

    model: str


@dataclass(frozen=True, slots=True)
class EndpointNotServed:
    """Workers serve the model, none of them the request's endpoint (HTTP 404 endpoint_not_served)."""

    endpoint: str
    model: str
    workers: tuple[str, ...] = ()
    """The ids of the model's workers (sorted: the same whichever order the workers are listed in)."""
    served: tuple[str, ...] = ()
    """The endpoints their engines do serve (each once, sorted)."""


@dataclass(frozen=True, slots=True)
class PriceTooLow:
    """Workers serve the model, all above the caller's ceiling (HTTP 400 price_too_low)."""

    cheapest_coefficient: int


@dataclass(frozen=True, slots=True)
class NoCapacity:
    """Affordable workers exist but all are busy or disabled right now (queue, then HTTP 503)."""

    eligible: int


Choice = Chosen | NoSuchModel | EndpointNotServed | PriceTooLow | NoCapacity


def choose_worker(
    candidates: Iterable[WorkerCandidate],
    model: str,
    max_coefficient: int,
    rng: random.Random,
    exclude: Collection[str] = (),
    endpoint: str | None = None,
    allowed: Collection[str] | None = None,
    now: float | None = None,
) -> Choice:
    """Pick the worker for one request, or say precisely why none can take it.

    `exclude` lists workers that already failed this request (retry before the first chunk);
    `endpoint` (the request's OpenAI path) keeps only workers that declared it (None: any);
    `allowed` (None: any) keeps only these workers (an end-to-end request: those it is sealed to);
    `now` (the clock the candidates were measured on) lets faded evidence count as faded.
    Workers left out by `exclude` or `allowed` count as not serving the model (`NoSuchModel`).
    """
    for_model = [c for c in candidates if c.model == model]
    if for_model and endpoint is not None:
        serving_endpoint = [c for c in for_model if endpoint in c.endpoints]
        if not serving_endpoint:
            served = tuple(sorted({e for c in for_model for e in c.endpoints}))
            return EndpointNotServed(endpoint, model, tuple(sorted(c.worker_id for c in for_model)), served)
        for_model = serving_endpoint
    serving = [
        c for c in for_model if c.worker_id not in exclude and (allowed is None or c.worker_id in allowed)
    ]
    if not serving:
        return NoSuchModel(model)
    affordable = [c for c in serving if c.coefficient <= max_coefficient]
    if not affordable:
        return PriceTooLow(min(c.coefficient for c in serving))
    ready = [c for c in affordable if c.has_capacity]
    if not ready:
        return NoCapacity(len(affordable))
    if len(ready) == 1:
        return Chosen(ready[0])
    return Chosen(best_of(rng.sample(ready, min(CHOICES, len(ready))), rng, now))


def best_of(
    sampled: Sequence[WorkerCandidate], rng: random.Random, now: float | None = None
) -> WorkerCandidate:
    """The sampled candidate with the lowest expected cost at ``now``; those within `TIE_RATIO` of the
    lowest are a tie, won by the lowest coefficient, else at random."""
    if len(sampled) == 1:
        return sampled[0]
    if len(sampled) == 2:  # the common case of a small pool, without the lists below
        first, second = sampled
        cost_first, cost_second = first.expected_cost(now), second.expected_cost(now)
        if max(cost_first, cost_second) > min(cost_first, cost_second) * TIE_RATIO:
            return first if cost_first < cost_second else second
        if first.coefficient != second.coefficient:
            return first if first.coefficient < second.coefficient else second
        return rng.choice(sampled)
    costs = [candidate.expected_cost(now) for candidate in sampled]
    lowest = min(costs)
    close = [c for c, cost in zip(sampled, costs, strict=True) if cost <= lowest * TIE_RATIO]
    cheapest = min(c.coefficient for c in close)
    tied = [c for c in close if c.coefficient == cheapest]
    return tied[0] if len(tied) == 1 else rng.choice(tied)


def accepts(
    candidate: WorkerCandidate,
    max_coefficient: int,
    exclude: Collection[str] = (),
    endpoint: str | None = None,
) -> bool:
    """Whether `choose_worker` could pick this candidate of the request's model now (the filters it
    applies after the model, besides ``allowed``): it serves ``endpoint``, was not tried, is within
    the price ceiling and has a free slot. An index of ready workers samples with it."""
    return (
        (endpoint is None or endpoint in candidate.endpoints)
        and candidate.worker_id not in exclude
        and candidate.coefficient <= max_coefficient
        and candidate.has_capacity
    )


def e2e_rank(candidate: WorkerCandidate) -> tuple[int, float, float, str]:
    """Sort key of end-to-end candidates (lower first): most free slots, then the higher decayed
    success rate, then the lower expected latency; the worker id breaks ties (a stable order)."""
    return (
        -candidate.free_slots,
        -candidate.success_rate,
        candidate.expected_latency_s,
        candidate.worker_id,
    )


def e2e_candidates(
    candidates: Iterable[WorkerCandidate],
    model: str,
    max_coefficient: int,
    endpoint: str,
    want: int,
    now: float,
) -> list[WorkerCandidate]:
    """Up to ``want`` workers a client may encrypt a request to, best first (`e2e_rank`).

    Eligible: enabled, serving ``model`` at ``endpoint`` at most at ``max_coefficient``, and its
    verified certificate publishing an end-to-end key still valid at ``now``. A busy worker stays
    eligible (ranked after those with free slots): a client keeps its pool for a while.
    """
    eligible = (
        c
        for c in candidates
        if c.enabled
        and c.model == model
        and endpoint in c.endpoints
        and c.coefficient <= max_coefficient
        and c.offers_e2e_key(now)
    )
    return heapq.nsmallest(max(want, 0), eligible, key=e2e_rank)

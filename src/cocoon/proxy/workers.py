"""The proxy's pool of connected workers and what it has measured about each (`WorkerPool`).

A worker is known by the key of its attested connection; its offer (model, coefficient, capacity,
owner) comes from its `WorkerState` messages. The proxy counts in-flight requests itself and learns,
from what it measures of each answer, a decayed time to first token, time per output token and success
rate per worker (`cocoon.proxy.estimates`), which the pure `choose_worker` turns into routing. A worker
not measured yet starts with optimistic figures (no time, always succeeding), so it is tried as soon as
it is drawn.

A worker's end-to-end keys come from the latest certificate it sent and the proxy verified
(`WorkerLink.take_certificate`); a worker whose end-to-end receipt did not match what the proxy relayed
is flagged in `WorkerPool.receipt_mismatches`, kept across its reconnects.

Routing a request costs the same with a thousand workers as with ten: the pool keeps a `WorkerIndex`
(per model, the workers offering it and those ready for a request now; per end-to-end key, its holders)
up to date whenever a link's offer, slots in use or keys change (`WorkerLink.__setattr__`), and each
link caches its `WorkerCandidate` until something it is built from changes. `WorkerPool.choose` samples
a few ready workers from the index and falls back to the full `choose_worker` scan of the model's workers
only to say why none can take the request (or when the draws keep hitting refused workers).

Requests that found every worker busy wait in `WorkerPool.waiting` (`cocoon.proxy.slot_queue`): the same
`reindex` wakes, when a link is ready and its model has waiters, only as many of them as it has free
slots (a slot freed, a worker connected or enabled, more slots offered); a worker leaving wakes its
model's waiters, which then fail fast if no worker is left.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

from cocoon.api.capabilities import known_endpoints, shortest_context
from cocoon.attestation.peer import AttestedPeer
from cocoon.net.rpc import RpcConnection
from cocoon.payments.params import NetworkParams
from cocoon.payments.pricing import TokenPrices, token_prices
from cocoon.proxy.admission import WorkerCertificate
from cocoon.proxy.estimates import HALF_LIFE_S, Outcome, WorkerStats
from cocoon.proxy.selection import (
    CHOICES,
    Choice,
    Chosen,
    WorkerCandidate,
    accepts,
    best_of,
    choose_worker,
    e2e_candidates,
)
from cocoon.proxy.slot_queue import Fits, SlotQueue, Waiter
from cocoon.proxy.worker_index import WorkerIndex, sample_some
from cocoon.wire.control import WorkerLoad, WorkerType
from cocoon.wire.messages import WorkerState

_INDEXED = frozenset({"state", "active", "e2e_key_ids"})
"""`WorkerLink` attributes the pool's index is built from (a change re-indexes the link)."""
_CACHE_KEEPING = frozenset({"served", "failed", "_candidate", "_pool", "_listed"})
"""`WorkerLink` attributes no candidate is built from (a change keeps the cached candidate)."""


@dataclass
class WorkerLink:
    """One connected worker."""

    worker_id: str
    conn: RpcConnection
    image_hash: str
    state: WorkerState | None = None
    attested: AttestedPeer | None = None
    """What the worker's certificate attested (its key and signed statement), told to clients."""
    active: int = 0
    served: int = 0
    failed: int = 0
    latency_s: float = 0.0
    """Seconds a reference answer is expected to take (`WorkerStats.expected_s`); optimistic (0) until
    measured."""
    success_rate: float = 1.0
    stats: WorkerStats = field(default_factory=WorkerStats)
    """What was measured of its answers, decayed (`observe`)."""
    certificate: WorkerCertificate | None = None
    """The latest certificate the worker sent (`WorkerState.certificate`) that the proxy verified."""
    e2e_key_ids: tuple[bytes, ...] = ()
    """The last two distinct end-to-end key ids its verified certificates published, newest first: the
    worker still opens envelopes sealed to its previous key for one refresh period."""
    certificate_refusals: int = 0
    refused_certificate_sha256: bytes = b""
    """The last certificate refused (not checked again when re-sent)."""
    _candidate: WorkerCandidate | None = field(default=None, init=False, repr=False, compare=False)
    """The candidate built from the current attributes (None: build it again)."""
    _listed: tuple[NetworkParams, WorkerLoad] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """Its entry in `WorkerPool.worker_types` at these prices (None: build it again)."""
    _pool: WorkerPool | None = field(default=None, init=False, repr=False, compare=False)
    """The pool whose index lists this link (set while it is the registered link of its worker)."""

    def __setattr__(self, name: str, value: object) -> None:
        # Every write goes through here (also `active += 1` on the request path): the cached
        # candidate is dropped and the pool's index follows, so nothing rescans all workers later.
        object.__setattr__(self, name, value)
        if name in _CACHE_KEEPING:
            return
        d = self.__dict__
        d["_candidate"] = d["_listed"] = None
        pool = d.get("_pool")
        if pool is not None and name in _INDEXED:
            pool.reindex(self)

    def take_certificate(self, verified: WorkerCertificate) -> None:
        """Use a newly verified certificate: its key becomes the current one, the current the previous."""
        self.certificate = verified
        key = verified.e2e_key_id
        if key and (not self.e2e_key_ids or self.e2e_key_ids[0] != key):
            self.e2e_key_ids = (key, *self.e2e_key_ids[:1])

    def candidate(self) -> WorkerCandidate | None:
        """What routing knows of this worker (None before its first offer); cached until it changes."""
        cached = self._candidate
        if cached is not None:
            return cached
        state = self.state
        if state is None:
            return None
        cert = self.certificate
        offered = cert is not None and bool(cert.e2e_key_id)
        built = WorkerCandidate(
            worker_id=self.worker_id,
            model=state.model,
            coefficient=state.coefficient,
            max_active=state.max_active,
            active=self.active,
            enabled=state.enabled,
            expected_latency_s=self.latency_s,
            success_rate=self.success_rate,
            evidence=self.stats.evidence,
            measured_at=self.stats.measured_at,
            endpoints=state.endpoints,
            e2e_key_ids=self.e2e_key_ids,
            e2e_certificate_sha256=cert.sha256 if cert is not None and offered else b"",
            e2e_not_after=cert.e2e_not_after if cert is not None else 0,
        )
        self.__dict__["_candidate"] = built
        return built

    def observe(self, outcome: Outcome, now: float, half_life_s: float = HALF_LIFE_S) -> None:
        """Fold one finished try, measured at ``now`` (monotonic seconds), into the decayed figures."""
        if outcome.ok:
            self.served += 1
        else:
            self.failed += 1
        stats = self.stats.observe(outcome, now, half_life_s)
        # One write of the three figures (none of them indexed), then the cached candidate is dropped
        # once: this runs after every request.
        d = self.__dict__
        d["stats"], d["latency_s"], d["success_rate"] = (
            stats,
            stats.expected_s(self.latency_s),
            stats.success_rate(),
        )
        d["_candidate"] = d["_listed"] = None


@dataclass
class WorkerPool:
    """All connected workers; `waiting` holds the requests queued for a free slot, woken from `reindex`
    as slots free up (only as many as there are free slots)."""

    links: dict[str, WorkerLink] = field(default_factory=dict)
    waiting: SlotQueue = field(default_factory=SlotQueue)
    """Per model, the requests waiting for a free slot, in arrival order (`wait`, `stop_waiting`)."""
    params: NetworkParams = field(default_factory=NetworkParams)
    """The network's prices, which `worker_types` quotes at each worker's coefficient."""
    receipt_mismatches: dict[str, int] = field(default_factory=dict)
    """Per worker id: end-to-end answers whose signed receipt did not match what was relayed (never
    charged). Kept when the worker disconnects: a flag is for the operator to look at."""
    certificates_refused: int = 0
    """Certificates connected workers sent that did not verify (the one before stays in use)."""
    index: WorkerIndex = field(default_factory=WorkerIndex)
    """The registered workers with an offer, by model, readiness and end-to-end key (`reindex`)."""

    def flag_receipt_mismatch(self, worker_id: str) -> None:
        self.receipt_mismatches[worker_id] = self.receipt_mismatches.get(worker_id, 0) + 1

    def add(self, link: WorkerLink) -> None:
        old = self.links.get(link.worker_id)
        if old is not None and old.conn is not link.conn:
            # A reconnect of the same worker replaces the stale link; keep what we measured.
            link.latency_s, link.success_rate, link.stats = old.latency_s, old.success_rate, old.stats
        if old is not None and old is not link:
            old._pool = None
        self.links[link.worker_id] = link
        link._pool = self
        self.reindex(link)

    def remove(self, link: WorkerLink) -> None:
        if self.links.get(link.worker_id) is link:
            del self.links[link.worker_id]
            link._pool = None
            self.index.drop(link.worker_id)
            if link.state is not None:  # its model's waiters choose again (and fail fast if none is left)
                self.waiting.wake_all(link.state.model)

    def reindex(self, link: WorkerLink) -> None:
        """Bring the index up to date with one link (called on every change it is built from)."""
        if self.links.get(link.worker_id) is not link:
            return  # a replaced link (its worker reconnected): the new one is indexed
        state = link.state
        if state is None:
            self.index.drop(link.worker_id)
            return
        ready = state.enabled and link.active < state.max_active
        self.index.put(link.worker_id, state.model, ready, link.e2e_key_ids)
        if ready and self.waiting.has_waiters(state.model):  # a dict lookup when nobody waits
            self.waiting.wake_fitting(state.model, _candidate(link), state.max_active - link.active)

    def wait(self, model: str, fits: Fits, wake: Callable[[], None]) -> Waiter:
        """Queue a request that found every fitting worker of ``model`` busy: ``wake`` is called when a
        worker it ``fits`` has a slot for it (or one of the model's workers left)."""
        return self.waiting.join(model, fits, wake)

    def settle(self, waiter: Waiter, took: str | None = None) -> None:
        """A woken waiter chose again (``took``: the worker it got; None: none): a slot it was woken for
        and did not take goes to the next in line. Call it before anything awaits."""
        self._wake_for(self.waiting.settle(waiter, took))

    def rearm(self, waiter: Waiter) -> None:
        """A settled waiter found no slot after all: it sleeps again in its place in line."""
        self.waiting.rearm(waiter)

    def stop_waiting(self, waiter: Waiter) -> None:
        """A waiter leaves the queue (chosen, timed out, cancelled, refused); settled if it was not."""
        self._wake_for(self.waiting.leave(waiter))

    def _wake_for(self, worker_id: str | None) -> None:
        """Wake waiters again for a worker whose slot a woken waiter did not take."""
        link = self.links.get(worker_id) if worker_id is not None else None
        if link is not None:
            self.reindex(link)

    def candidates(self) -> list[WorkerCandidate]:
        """Every registered worker with an offer (O(workers): routing uses `choose` instead)."""
        return [c for link in self.links.values() if (c := link.candidate()) is not None]

    def model_candidates(self, model: str) -> list[WorkerCandidate]:
        """The workers offering ``model``, in the order they registered."""
        links = self.links
        return [_candidate(links[worker_id]) for worker_id in self.index.members.get(model, ())]

    def choose(
        self,
        model: str,
        max_coefficient: int,
        rng: random.Random,
        exclude: Collection[str] = (),
        endpoint: str | None = None,
        allowed: Collection[str] | None = None,
        now: float | None = None,
    ) -> Choice:
        """`choose_worker` over the registered workers (same arguments, same outcome distribution),
        without building a candidate per worker: `CHOICES` ready workers are drawn from the index; only when
        none can be found is the model's list scanned, to say precisely why."""
        ready = self.index.ready.get(model)
        if ready:
            links = self.links

            def ok(worker_id: str) -> bool:
                return accepts(_candidate(links[worker_id]), max_coefficient, exclude, endpoint)

            picked: list[str] | None
            if allowed is None:
                picked = sample_some(ready, rng, ok, CHOICES)
            else:  # an end-to-end request: the few workers it is sealed to (sorted: seeded runs repeat)
                held = sorted(w for w in allowed if w in ready and ok(w))
                picked = rng.sample(held, min(CHOICES, len(held)))
            if picked:
                return Chosen(best_of([_candidate(links[w]) for w in picked], rng, now))
        return choose_worker(
            self.model_candidates(model), model, max_coefficient, rng, exclude, endpoint, allowed, now
        )

    def sealed_to(self, key_ids: frozenset[bytes]) -> set[str]:
        """The registered workers holding a key an end-to-end envelope lists (current or previous)."""
        return self.index.holding(key_ids)

    def unheld(self, key_ids: frozenset[bytes]) -> int:
        """How many of these end-to-end key ids no registered worker holds (a worker that restarted has
        a new key; one that left took its key with it)."""
        holders = self.index.key_holders
        return sum(1 for key in key_ids if not holders.get(key))

    def e2e_candidates(
        self, model: str, max_coefficient: int, endpoint: str, want: int, now: float
    ) -> list[WorkerCandidate]:
        """`e2e_candidates` over the workers offering ``model`` only."""
        return e2e_candidates(self.model_candidates(model), model, max_coefficient, endpoint, want, now)

    def __iter__(self) -> Iterator[WorkerLink]:
        return iter(list(self.links.values()))

    def worker_types(self) -> list[WorkerType]:
        """Per model (for /v1/models): worker count, coefficient range, load, the shortest context
        length, the endpoints served, and per worker its load, capabilities and prices (`params`)."""
        params = self.params
        by_model: dict[str, list[tuple[WorkerLink, WorkerState]]] = {}
        for link in self.links.values():
            if link.state is not None and link.state.enabled:
                by_model.setdefault(link.state.model, []).append((link, link.state))
        types = []
        prices = _Prices(params)
        for model, offers in sorted(by_model.items()):
            coefficients = [state.coefficient for _, state in offers]
            types.append(
                WorkerType(
                    model=model,
                    workers=len(offers),
                    coefficient_min=min(coefficients),
                    coefficient_max=max(coefficients),
                    active_requests=sum(lk.active for lk, _ in offers),
                    max_active_requests=sum(state.max_active for _, state in offers),
                    worker_loads=tuple(_load(lk, state, prices) for lk, state in offers),
                    context_length=shortest_context(state.context_length for _, state in offers),
                    endpoints=known_endpoints(path for _, state in offers for path in state.endpoints),
                )
            )
        return types


def _candidate(link: WorkerLink) -> WorkerCandidate:
    candidate = link.candidate()
    assert candidate is not None  # indexed links have an offer
    return candidate


class _Prices(dict[int, TokenPrices]):
    """Token prices per coefficient, each worked out once per listing (workers share a few)."""

    def __init__(self, params: NetworkParams) -> None:
        super().__init__()
        self.params = params

    def __missing__(self, coefficient: int) -> TokenPrices:
        found = self[coefficient] = token_prices(coefficient, self.params)
        return found


def _load(link: WorkerLink, state: WorkerState, by_coefficient: _Prices) -> WorkerLoad:
    """The worker's entry in a listing (kept on the link until it changes or the prices do)."""
    listed = link._listed
    if listed is not None and listed[0] is by_coefficient.params:
        return listed[1]
    prices = by_coefficient[state.coefficient]
    load = WorkerLoad(
        coefficient=state.coefficient,
        active=link.active,
        max_active=state.max_active,
        worker_id=link.worker_id,
        context_length=state.context_length,
        endpoints=state.endpoints,
        prompt_nano_per_mtok=prices.prompt,
        completion_nano_per_mtok=prices.completion,
    )
    link._listed = (by_coefficient.params, load)
    return load

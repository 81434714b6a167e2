"""Routing policies compared in a pure simulation: the proxy's learned routing, round robin, least loaded.

No sockets, no processes, no sleeping: a seeded discrete-event simulation of one proxy in front of a
fleet of workers with different speeds (time to first token, time per output token) and failure rates,
each with a few slots. Requests arrive at random (Poisson, a share ``--load`` of the fleet's capacity),
each asks for a random number of output tokens (exponential around ``--tokens``); a worker's answer
takes its TTFT plus its per-token time for every token, with noise and a slowdown as its slots fill. A
try fails (before its first token) with the worker's failure rate and is retried on another worker, at
most ``--retries`` times, as the proxy does; when no worker has a free slot the request waits in a
queue. A request's latency is from its arrival to its last token, queueing and retries included.

The learned policy is the proxy's own code: a `WorkerPool` of `WorkerLink` s (no connection behind
them) chosen from with `WorkerPool.choose` and told each outcome with `WorkerLink.observe`, on the
simulation's clock. Round robin takes the next worker in a fixed order that has a free slot; least
loaded the one with the smallest share of busy slots (a tie: at random).

    .venv/bin/python benchmarks/bench_routing.py [--workers 40] [--requests 20000] [--seed 1]

Prints, per fleet, each policy's mean and p99 latency, failed requests (every try failed), tries
retried after a failure and the share of tries that went to slow workers.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from cocoon.net.rpc import RpcConnection
from cocoon.proxy.estimates import Outcome
from cocoon.proxy.selection import Chosen
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.wire.messages import WorkerState

MODEL = "sim-model"
LOAD_SLOWDOWN = 0.5
"""How much slower a worker generates with all its slots busy (batching shares its GPU)."""


@dataclass(frozen=True, slots=True)
class SimWorker:
    worker_id: str
    ttft_s: float
    tpot_s: float
    fail_rate: float
    max_active: int = 4
    coefficient: int = 1000

    @property
    def slow(self) -> bool:
        return self.tpot_s > 0.03 or self.ttft_s > 1.0

    def capacity_per_s(self, tokens: float) -> float:
        """Requests per second it can finish with every slot busy, for answers of ``tokens``."""
        return self.max_active * (1 - self.fail_rate) / (self.ttft_s + self.tpot_s * tokens)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    workers: tuple[SimWorker, ...]
    requests: int
    load: float
    """Arrival rate as a share of the fleet's capacity."""
    tokens: float
    """Mean output tokens of a request."""
    seed: int
    retries: int = 2


def skewed_fleet(count: int, seed: int) -> tuple[SimWorker, ...]:
    """Most workers fast; a quarter slow (5x the time per token, a slow first token); some flaky."""
    rng = random.Random(seed)
    workers = []
    for i in range(count):
        kind = i % 8
        jitter = rng.uniform(0.9, 1.1)
        if kind in (1, 5):  # a quarter: slow
            workers.append(SimWorker(f"slow{i}", 0.6 * jitter, 0.05 * jitter, 0.01))
        elif kind == 3:  # an eighth: fast but failing often
            workers.append(SimWorker(f"flaky{i}", 0.15 * jitter, 0.01 * jitter, 0.5))
        else:
            workers.append(SimWorker(f"fast{i}", 0.15 * jitter, 0.01 * jitter, 0.01))
    return tuple(workers)


def even_fleet(count: int, seed: int) -> tuple[SimWorker, ...]:
    """Workers alike (small differences): no policy should lose much here."""
    rng = random.Random(seed)
    return tuple(
        SimWorker(f"w{i}", 0.2 * rng.uniform(0.9, 1.1), 0.015 * rng.uniform(0.9, 1.1), 0.01)
        for i in range(count)
    )


# --- policies ----------------------------------------------------------------------------------------


class Policy:
    """Chooses a worker with a free slot for a try (None: all busy or tried) and learns outcomes."""

    name = ""

    def __init__(self, fleet: Sequence[SimWorker], rng: random.Random) -> None:
        self.fleet = list(fleet)
        self.rng = rng
        self.active = {w.worker_id: 0 for w in fleet}

    def free(self, worker: SimWorker, exclude: set[str]) -> bool:
        return worker.worker_id not in exclude and self.active[worker.worker_id] < worker.max_active

    def choose(self, exclude: set[str], now: float) -> str | None:
        raise NotImplementedError

    def started(self, worker_id: str) -> None:
        self.active[worker_id] += 1

    def finished(self, worker_id: str, outcome: Outcome, now: float) -> None:
        self.active[worker_id] -= 1


class RoundRobin(Policy):
    name = "round robin"

    def __init__(self, fleet: Sequence[SimWorker], rng: random.Random) -> None:
        super().__init__(fleet, rng)
        self.next = 0

    def choose(self, exclude: set[str], now: float) -> str | None:
        for step in range(len(self.fleet)):
            worker = self.fleet[(self.next + step) % len(self.fleet)]
            if self.free(worker, exclude):
                self.next = (self.next + step + 1) % len(self.fleet)
                return worker.worker_id
        return None


class LeastLoaded(Policy):
    name = "least loaded"

    def choose(self, exclude: set[str], now: float) -> str | None:
        free = [w for w in self.fleet if self.free(w, exclude)]
        if not free:
            return None
        least = min(self.active[w.worker_id] / w.max_active for w in free)
        lightest = [w for w in free if self.active[w.worker_id] / w.max_active == least]
        return self.rng.choice(lightest).worker_id


class Learned(Policy):
    """The proxy's routing: `WorkerPool.choose` over `WorkerLink` s told every outcome."""

    name = "learned (proxy)"

    def __init__(self, fleet: Sequence[SimWorker], rng: random.Random) -> None:
        super().__init__(fleet, rng)
        self.pool = WorkerPool()
        for worker in fleet:
            state = WorkerState(True, MODEL, worker.coefficient, worker.max_active, 0, "", 0, ())
            conn = cast(RpcConnection, object())  # never used: nothing is sent in a simulation
            self.pool.add(WorkerLink(worker.worker_id, conn, "sim", state=state))

    def choose(self, exclude: set[str], now: float) -> str | None:
        choice = self.pool.choose(MODEL, 10_000, self.rng, exclude, now=now)
        return choice.worker.worker_id if isinstance(choice, Chosen) else None

    def started(self, worker_id: str) -> None:
        super().started(worker_id)
        self.pool.links[worker_id].active += 1

    def finished(self, worker_id: str, outcome: Outcome, now: float) -> None:
        super().finished(worker_id, outcome, now)
        link = self.pool.links[worker_id]
        link.active -= 1
        link.observe(outcome, now)


MakePolicy = Callable[[Sequence[SimWorker], random.Random], Policy]
POLICIES: tuple[MakePolicy, ...] = (Learned, RoundRobin, LeastLoaded)


# --- the simulation ----------------------------------------------------------------------------------


@dataclass
class _Request:
    arrived: float
    tokens: int
    tried: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Try:
    worker_id: str
    started: float
    first_s: float
    """Seconds from its start to its first token (to its failure, for a try that fails)."""


@dataclass(frozen=True, slots=True)
class Result:
    policy: str
    mean_s: float
    p99_s: float
    failed: int
    served: int
    slow_share: float
    """Share of tries that went to slow workers."""
    retried: int
    """Tries after a failed one (on another worker)."""


def simulate(scenario: Scenario, make: MakePolicy) -> Result:
    """One policy through one scenario; the same seed gives every policy the same arrivals and sizes."""
    workers = {w.worker_id: w for w in scenario.workers}
    arrivals = random.Random(scenario.seed)
    policy = make(scenario.workers, random.Random(scenario.seed + 1))
    service = random.Random(scenario.seed + 2)  # noise and failures: the same draws for every policy
    capacity = sum(w.capacity_per_s(scenario.tokens) for w in scenario.workers)
    rate = scenario.load * capacity
    order = itertools.count()  # breaks time ties in the heap
    events: list[tuple[float, int, str, _Request, _Try | None]] = []
    now = 0.0
    for _ in range(scenario.requests):
        now += arrivals.expovariate(rate)
        tokens = max(1, min(int(arrivals.expovariate(1 / scenario.tokens)), int(scenario.tokens * 8)))
        heapq.heappush(events, (now, next(order), "arrive", _Request(now, tokens), None))
    waiting: list[_Request] = []
    latencies: list[float] = []
    failed = tries = slow_tries = retried = 0

    def dispatch(request: _Request, at: float) -> bool:
        nonlocal tries, slow_tries, retried
        worker_id = policy.choose(request.tried, at)
        if worker_id is None:
            return False
        worker = workers[worker_id]
        tries += 1
        retried += bool(request.tried)
        slow_tries += worker.slow
        busy = policy.active[worker_id] / worker.max_active
        policy.started(worker_id)
        request.tried.add(worker_id)
        noise = service.lognormvariate(0, 0.2) * (1 + LOAD_SLOWDOWN * busy)
        first = worker.ttft_s * noise
        kind = "fail" if service.random() < worker.fail_rate else "done"
        ends = at + (first if kind == "fail" else first + worker.tpot_s * noise * request.tokens)
        heapq.heappush(events, (ends, next(order), kind, request, _Try(worker_id, at, first)))
        return True

    while events:
        now, _, kind, request, attempt = heapq.heappop(events)
        if attempt is None:  # an arrival
            if not dispatch(request, now):
                waiting.append(request)
            continue
        if kind == "done":  # the outcome as the proxy measures it: its first chunk, its end
            outcome = Outcome(True, attempt.first_s, now - attempt.started, request.tokens, streamed=True)
            policy.finished(attempt.worker_id, outcome, now)
            latencies.append(now - request.arrived)
        else:
            policy.finished(attempt.worker_id, Outcome(False, attempt.first_s), now)
            if len(request.tried) > scenario.retries or not dispatch(request, now):
                if len(request.tried) > scenario.retries:
                    failed += 1
                else:
                    waiting.append(request)
        while waiting and dispatch(waiting[0], now):  # a slot came free: the queue goes first
            waiting.pop(0)
    failed += len(waiting)
    latencies.sort()
    return Result(
        policy.name,
        sum(latencies) / max(len(latencies), 1),
        percentile(latencies, 99),
        failed,
        len(latencies),
        slow_tries / max(tries, 1),
        retried,
    )


def percentile(ordered: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of sorted values (nearest rank; NaN when empty)."""
    if not ordered:
        return math.nan
    rank = max(math.ceil(pct / 100 * len(ordered)) - 1, 0)
    return ordered[rank]


def compare(scenario: Scenario) -> list[Result]:
    """Every policy through ``scenario`` (same arrivals, sizes, noise and failures)."""
    return [simulate(scenario, make) for make in POLICIES]


def table(scenario: Scenario, results: Sequence[Result]) -> str:
    slow = sum(w.slow for w in scenario.workers)
    lines = [
        f"{scenario.name}: {len(scenario.workers)} workers ({slow} slow), {scenario.requests} requests, "
        f"load {scenario.load:.0%}, ~{scenario.tokens:g} tokens each, seed {scenario.seed}",
        f"  {'policy':<16} {'mean s':>8} {'p99 s':>8} {'failed':>7} {'retried':>8} {'to slow':>8}",
    ]
    for r in results:
        lines.append(
            f"  {r.policy:<16} {r.mean_s:>8.2f} {r.p99_s:>8.2f} {r.failed:>7d} {r.retried:>8d} "
            f"{r.slow_share:>8.1%}"
        )
    return "\n".join(lines)


def scenarios(workers: int, requests: int, seed: int, load: float, tokens: float) -> list[Scenario]:
    return [
        Scenario("skewed fleet", skewed_fleet(workers, seed), requests, load, tokens, seed),
        Scenario("even fleet", even_fleet(workers, seed), requests, load, tokens, seed),
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, list[Result]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--load", type=float, default=0.5, help="arrival rate as a share of capacity")
    parser.add_argument("--tokens", type=float, default=200, help="mean output tokens of a request")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out = {}
    for scenario in scenarios(args.workers, args.requests, args.seed, args.load, args.tokens):
        results = compare(scenario)
        print(table(scenario, results), flush=True)
        out[scenario.name] = results
    return out


if __name__ == "__main__":
    main()

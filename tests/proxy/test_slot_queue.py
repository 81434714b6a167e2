"""The slot queue (`cocoon.proxy.slot_queue`): waiters are woken oldest first, only those a worker fits
and only as many as it has free slots (less the wakes it still owes); a re-armed waiter keeps its place;
leaving is O(1); and, under any interleaving of slots freeing, workers changing and waiters arriving,
choosing, leaving (Hypothesis, on the real `WorkerPool`), no free slot is left while a waiter that could
take it sleeps."""

from __future__ import annotations

import random
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon.net.rpc import RpcConnection
from cocoon.proxy.selection import Chosen, WorkerCandidate, accepts
from cocoon.proxy.slot_queue import SlotQueue, Waiter
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.wire.messages import WorkerState


def worker(worker_id: str = "w", coefficient: int = 1000, max_active: int = 1) -> WorkerCandidate:
    return WorkerCandidate(worker_id, "m", coefficient, max_active, 0, True, 0.0, 1.0)


class Line:
    """A queue of model "m" whose waiters record the order they were woken in."""

    def __init__(self) -> None:
        self.queue = SlotQueue()
        self.woken: list[str] = []

    def join(self, name: str, max_coefficient: int = 10**6) -> Waiter:
        return self.queue.join(
            "m", lambda c: c.coefficient <= max_coefficient, lambda: self.woken.append(name)
        )


def test_a_freed_slot_wakes_the_oldest_fitting_waiter_only() -> None:
    line = Line()
    line.join("cheap", max_coefficient=500)  # does not fit a worker at 1000: passed over
    first, second = line.join("a"), line.join("b")
    assert line.queue.wake_fitting("m", worker(), 1) == 1
    assert line.woken == ["a"] and first.woken and not second.woken
    assert line.queue.owed("w") == 1
    # The same slot seen again (another change of the worker) wakes nobody: its wake is owed.
    assert line.queue.wake_fitting("m", worker(), 1) == 0
    # Two free slots: one more (the woken one is passed over, it keeps its place).
    assert line.queue.wake_fitting("m", worker(), 2) == 1
    assert line.woken == ["a", "b"] and line.queue.owed("w") == 2
    assert line.queue.wake_fitting("other-model", worker(), 5) == 0


def test_free_slots_bound_the_wakes() -> None:
    line = Line()
    for name in "abcde":
        line.join(name)
    assert line.queue.wake_fitting("m", worker(max_active=3), 3) == 3
    assert line.woken == ["a", "b", "c"]
    assert line.queue.wake_fitting("m", worker(max_active=3), 0) == 0


def test_a_rearmed_waiter_keeps_its_place_in_line() -> None:
    line = Line()
    a, b = line.join("a"), line.join("b")
    line.queue.wake_fitting("m", worker(), 1)
    # a found no slot after all (a new request took it): settled, it sleeps again, still first.
    assert line.queue.settle(a) == "w"  # the worker it was woken for: to be woken for again
    assert line.queue.owed("w") == 0
    line.queue.rearm(a)
    assert [w for w in line.queue.waiting("m")] == [a, b]
    line.queue.wake_fitting("m", worker(), 1)
    assert line.woken == ["a", "a"]
    assert line.queue.settle(a, took="w") is None  # it took that worker's slot: nothing to pass on
    assert line.queue.settle(a) is None  # idempotent


def test_leaving_removes_the_waiter_and_passes_its_wake_on() -> None:
    line = Line()
    a, b = line.join("a"), line.join("b")
    line.queue.wake_fitting("m", worker(), 1)
    assert line.queue.leave(a) == "w"  # cancelled while woken: the caller wakes for "w" again
    assert line.queue.waiting("m") == [b] and line.queue.owed("w") == 0
    line.queue.wake_fitting("m", worker(), 1)
    assert line.woken == ["a", "b"]
    assert line.queue.leave(b, took="w") is None
    assert not line.queue.has_waiters("m") and len(line.queue) == 0
    assert line.queue.leave(b) is None  # leaving twice is harmless
    assert line.queue.wake_fitting("m", worker(), 1) == 0


def test_wake_all_wakes_every_sleeping_waiter_once() -> None:
    line = Line()
    line.join("a")
    line.join("b", max_coefficient=1)
    line.queue.join("n", lambda c: True, lambda: line.woken.append("other"))
    line.queue.wake_fitting("m", worker(), 1)  # a is already woken
    assert line.queue.wake_all("m") == 1
    assert line.woken == ["a", "b"]
    assert line.queue.wake_all() == 1  # every model: the one waiting for "n"
    assert line.woken == ["a", "b", "other"] and line.queue.owed("w") == 1


def test_a_wake_walks_past_woken_and_unfitting_waiters_only() -> None:
    """The cost of a wake: the predicates asked are those of the waiters passed over plus those woken,
    never the whole line."""
    queue = SlotQueue()
    asked: list[int] = []

    def fits(i: int) -> bool:
        asked.append(i)
        return i % 2 == 0 or i > 10

    for i in range(1000):
        queue.join("m", lambda c, i=i: fits(i), lambda: None)
    assert queue.wake_fitting("m", worker(max_active=3), 3) == 3  # 0, 2, 4
    assert asked == [0, 1, 2, 3, 4]


@settings(max_examples=200, deadline=None)
@given(
    fitting=st.lists(st.booleans(), max_size=30),
    extra=st.integers(0, 3),
)
def test_enough_free_slots_wake_every_fitting_waiter(fitting: list[bool], extra: int) -> None:
    queue = SlotQueue()
    waiters = [queue.join("m", lambda c, ok=ok: ok, lambda: None) for ok in fitting]
    woken = queue.wake_fitting("m", worker(), sum(fitting) + extra)
    assert woken == sum(fitting)
    assert [w.woken for w in waiters] == fitting


# --- no lost wake-up, on the real pool ------------------------------------------------------------

IDS = ["w0", "w1", "w2"]


def offer(max_active: int, enabled: bool = True, coefficient: int = 1000) -> WorkerState:
    return WorkerState(enabled, "m", coefficient, max_active, 0, "", 0, ("/v1/chat/completions",))


class Sim:
    """Requests waiting in a real `WorkerPool`, chosen for as the router does (`Router._choose`)."""

    def __init__(self) -> None:
        self.pool = WorkerPool()
        self.rng = random.Random(0)
        self.waiting: list[tuple[Waiter, frozenset[str], int]] = []  # waiter, tried, ceiling
        self.ready_to_run: list[Waiter] = []

    def arrive(self, tried: frozenset[str], ceiling: int) -> None:
        if self.pick(tried, ceiling) is not None:
            return

        def fits(c: WorkerCandidate) -> bool:
            return accepts(c, ceiling, tried)

        entry: list[Waiter] = []
        waiter = self.pool.wait("m", fits, lambda: self.ready_to_run.append(entry[0]))
        entry.append(waiter)
        self.waiting.append((waiter, tried, ceiling))

    def pick(self, tried: frozenset[str], ceiling: int) -> str | None:
        choice = self.pool.choose("m", ceiling, self.rng, tried)
        if isinstance(choice, Chosen):
            self.pool.links[choice.worker.worker_id].active += 1
            return choice.worker.worker_id
        return None

    def run_woken(self, which: int) -> None:
        if not self.ready_to_run:
            return
        waiter = self.ready_to_run.pop(which % len(self.ready_to_run))
        entry = next(e for e in self.waiting if e[0] is waiter)
        choice = self.pool.choose("m", entry[2], self.rng, entry[1])
        took = choice.worker.worker_id if isinstance(choice, Chosen) else None
        self.pool.settle(waiter, took)
        if took is None:
            self.pool.rearm(waiter)
            return
        self.waiting.remove(entry)
        self.pool.stop_waiting(waiter)
        self.pool.links[took].active += 1

    def cancel(self, which: int) -> None:
        if self.waiting:
            waiter, _, _ = self.waiting.pop(which % len(self.waiting))
            if waiter in self.ready_to_run:
                self.ready_to_run.remove(waiter)
            self.pool.stop_waiting(waiter)

    def check(self) -> None:
        """No registered worker has a free slot (beyond the wakes it owes) that a sleeping waiter fits."""
        queue = self.pool.waiting
        for link in self.pool.links.values():
            candidate = link.candidate()
            if candidate is None or candidate.free_slots <= queue.owed(link.worker_id):
                continue
            for waiter, _, _ in self.waiting:
                assert waiter.woken or not waiter.fits(candidate), (link.worker_id, candidate)


tried_sets = st.one_of(st.just(frozenset[str]()), st.frozensets(st.sampled_from(IDS), max_size=2))
offers = st.tuples(st.integers(0, 3), st.booleans(), st.sampled_from([400, 1000]))
ops = st.one_of(
    st.tuples(st.just("arrive"), tried_sets, st.sampled_from([2000, 2000, 500])),
    st.tuples(st.just("finish"), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("run"), st.integers(0, 20), st.none()),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.none()),
    st.tuples(st.just("offer"), st.sampled_from(IDS), offers),
    st.tuples(st.just("leave"), st.sampled_from(IDS), st.none()),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(ops, max_size=60))
def test_no_free_slot_is_left_while_a_waiter_that_fits_it_sleeps(
    steps: list[tuple[str, object, object]],
) -> None:
    sim = Sim()
    for op, a, b in steps:
        if op == "arrive":
            sim.arrive(cast(frozenset[str], a), cast(int, b))
        elif op == "finish":
            link = sim.pool.links.get(cast(str, a))
            if link is not None and link.active:
                link.active -= 1
        elif op == "run":
            sim.run_woken(cast(int, a))
        elif op == "cancel":
            sim.cancel(cast(int, a))
        elif op == "offer":
            max_active, enabled, coefficient = cast(tuple[int, bool, int], b)
            link = sim.pool.links.get(cast(str, a))
            if link is None:
                link = WorkerLink(cast(str, a), cast(RpcConnection, object()), "img")
                link.state = offer(max_active, enabled, coefficient)
                sim.pool.add(link)
            else:
                link.state = offer(max_active, enabled, coefficient)
        elif op == "leave":
            link = sim.pool.links.get(cast(str, a))
            if link is not None:
                sim.pool.remove(link)
        sim.check()
    # Every woken waiter runs: afterwards none is woken, and still no slot is lost.
    while sim.ready_to_run:
        sim.run_woken(0)
        sim.check()
    assert all(not waiter.woken for waiter, _, _ in sim.waiting)


def test_a_waiter_woken_for_one_worker_that_takes_another_passes_the_first_slot_on() -> None:
    pool = WorkerPool()
    woken: list[str] = []
    links: dict[str, WorkerLink] = {}
    for worker_id in ("r", "s"):
        links[worker_id] = link = WorkerLink(worker_id, cast(RpcConnection, object()), "img")
        link.state = offer(1)
        link.active = 1
        pool.add(link)
    waiters = [pool.wait("m", lambda c: True, lambda name=name: woken.append(name)) for name in "abc"]
    links["r"].active = 0  # r frees its slot: a is woken for it
    links["s"].active = 0  # then s: a is already woken, b is woken for s
    assert woken == ["a", "b"]
    # a runs first and happens to choose s: the slot of r it was woken for goes to c at once.
    pool.settle(waiters[0], took="s")
    pool.stop_waiting(waiters[0])
    links["s"].active = 1
    assert woken == ["a", "b", "c"]
    assert pool.waiting.owed("r") == 1 and pool.waiting.owed("s") == 1

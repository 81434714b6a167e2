"""The pool's worker index: it stays equal to a full scan under connects, leaves, reconnects, offers,
slots and keys changing (Hypothesis), `WorkerPool.choose` decides as `choose_worker` over every
candidate would, and choosing builds a bounded number of candidates however many workers are connected.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon.net.rpc import RpcConnection
from cocoon.proxy import workers as workers_module
from cocoon.proxy.estimates import Outcome
from cocoon.proxy.selection import CHOICES, Chosen, WorkerCandidate, accepts, choose_worker
from cocoon.proxy.worker_index import ReadySet
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.wire.messages import WorkerState

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
IDS = [f"w{i}" for i in range(12)]
MODELS = ["m", "n"]
KEYS = [b"k1", b"k2", b"k3"]
IndexView = tuple[dict[str, set[str]], dict[str, set[str]], dict[bytes, set[str]]]


def offer(
    model: str = "m",
    coefficient: int = 1000,
    max_active: int = 2,
    enabled: bool = True,
    endpoints: tuple[str, ...] = (CHAT,),
) -> WorkerState:
    return WorkerState(enabled, model, coefficient, max_active, 0, "", 0, endpoints)


def link(worker_id: str, state: WorkerState | None = None) -> WorkerLink:
    return WorkerLink(worker_id, cast(RpcConnection, object()), "img", state=state)


def expected_index(pool: WorkerPool) -> IndexView:
    """What the index must hold, from a full scan of the registered links."""
    members: dict[str, set[str]] = {}
    ready: dict[str, set[str]] = {}
    keys: dict[bytes, set[str]] = {}
    for lk in pool.links.values():
        if lk.state is None:
            continue
        members.setdefault(lk.state.model, set()).add(lk.worker_id)
        if lk.state.enabled and lk.active < lk.state.max_active:
            ready.setdefault(lk.state.model, set()).add(lk.worker_id)
        for key in lk.e2e_key_ids:
            keys.setdefault(key, set()).add(lk.worker_id)
    return members, ready, keys


def actual_index(pool: WorkerPool) -> IndexView:
    index = pool.index
    members = {m: set(ids) for m, ids in index.members.items()}
    ready = {m: set(rs) for m, rs in index.ready.items() if len(rs)}
    return members, ready, {k: set(v) for k, v in index.key_holders.items()}


states = st.builds(
    offer,
    model=st.sampled_from(MODELS),
    coefficient=st.sampled_from([500, 1000, 3000]),
    max_active=st.integers(0, 3),
    enabled=st.booleans(),
    endpoints=st.sampled_from([(CHAT,), (COMPLETIONS,), (CHAT, COMPLETIONS), ()]),
)
ops = st.one_of(
    st.tuples(st.just("connect"), st.sampled_from(IDS), states),
    st.tuples(st.just("connect_bare"), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("leave"), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("leave_stale"), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("offer"), st.sampled_from(IDS), states),
    st.tuples(st.just("take"), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("free"), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("keys"), st.sampled_from(IDS), st.lists(st.sampled_from(KEYS), max_size=2)),
    st.tuples(st.just("observe"), st.sampled_from(IDS), st.booleans()),
)
requests = st.tuples(
    st.sampled_from([*MODELS, "other"]),
    st.sampled_from([400, 1000, 5000]),
    st.sets(st.sampled_from(IDS), max_size=3),
    st.sampled_from([None, CHAT, COMPLETIONS]),
    st.one_of(st.none(), st.sets(st.sampled_from(IDS), max_size=5)),
)


def apply(pool: WorkerPool, stale: dict[str, WorkerLink], op: tuple[str, str, object]) -> None:
    kind, worker_id, arg = op
    current = pool.links.get(worker_id)
    if kind in ("connect", "connect_bare"):
        if current is not None:
            stale[worker_id] = current  # a reconnect: the old link lingers until its requests end
        pool.add(link(worker_id, cast(WorkerState | None, arg)))
    elif kind == "leave" and current is not None:
        pool.remove(current)
    elif kind == "leave_stale" and worker_id in stale:
        old = stale.pop(worker_id)
        old.active = max(old.active - 1, 0)  # a late request end on the replaced link
        pool.remove(old)  # must not drop the live link
    elif current is None:
        return
    elif kind == "offer":
        current.state = cast(WorkerState, arg)
    elif kind == "take":
        current.active += 1
    elif kind == "free":
        current.active = max(current.active - 1, 0)
    elif kind == "keys":
        current.e2e_key_ids = tuple(dict.fromkeys(cast(list[bytes], arg)))
    elif kind == "observe":
        current.observe(Outcome(bool(arg), 0.1, 0.5 if arg else None, 8, streamed=True), now=1.0)


def check_choice(pool: WorkerPool, request: tuple[str, int, set[str], str | None, set[str] | None]) -> None:
    model, ceiling, exclude, endpoint, allowed = request
    full = choose_worker(pool.candidates(), model, ceiling, random.Random(0), exclude, endpoint, allowed)
    got = pool.choose(model, ceiling, random.Random(0), exclude, endpoint, allowed)
    if not isinstance(full, Chosen):
        assert got == full  # the same reason, exactly
        return
    assert isinstance(got, Chosen)
    assert got.worker == pool.links[got.worker.worker_id].candidate()  # fresh, not a stale cache
    assert got.worker.model == model and accepts(got.worker, ceiling, exclude, endpoint)
    assert allowed is None or got.worker.worker_id in allowed


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=40), st.lists(requests, min_size=1, max_size=6))
def test_index_matches_a_full_scan_and_choose_matches_choose_worker(
    script: list[tuple[str, str, object]], asks: list[tuple[str, int, set[str], str | None, set[str] | None]]
) -> None:
    pool = WorkerPool()
    stale: dict[str, WorkerLink] = {}
    for op in script:
        apply(pool, stale, op)
        assert actual_index(pool) == expected_index(pool)
    for ask in asks:
        check_choice(pool, ask)
    assert pool.candidates() == [c for lk in pool.links.values() if (c := _fresh(lk)) is not None]


def _fresh(lk: WorkerLink) -> WorkerCandidate | None:
    lk._candidate = None
    return lk.candidate()


def test_sealed_to_lists_the_holders_of_a_key() -> None:
    pool = WorkerPool()
    for worker_id in ("a", "b", "c"):
        pool.add(link(worker_id, offer()))
    pool.links["a"].e2e_key_ids = (b"new-a", b"old-a")
    pool.links["b"].e2e_key_ids = (b"new-b",)
    assert pool.sealed_to(frozenset({b"old-a", b"new-b", b"none"})) == {"a", "b"}
    pool.links["a"].e2e_key_ids = (b"newer-a", b"new-a")
    assert pool.sealed_to(frozenset({b"old-a"})) == set()
    pool.remove(pool.links["b"])
    assert pool.sealed_to(frozenset({b"new-b"})) == set()


def test_every_ready_worker_is_chosen_and_the_worst_of_many_never() -> None:
    pool = WorkerPool()
    for i in range(40):
        pool.add(link(f"w{i}", offer(max_active=4)))
    pool.links["w0"].latency_s = 100.0  # strictly the most expensive: it loses every pair it is in
    pool.links["w1"].active = 4  # full
    pool.links["w2"].state = offer(enabled=False)
    rng = random.Random(3)
    counts: Counter[str] = Counter()
    for _ in range(4000):
        got = pool.choose("m", 1000, rng)
        assert isinstance(got, Chosen)
        counts[got.worker.worker_id] += 1
    assert set(counts) == {f"w{i}" for i in range(3, 40)}


def test_choose_builds_a_bounded_number_of_candidates_whatever_the_pool_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = 0
    real = workers_module.WorkerCandidate

    def counting(*args: object, **kwargs: object) -> WorkerCandidate:
        nonlocal built
        built += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workers_module, "WorkerCandidate", counting)
    per_size = {}
    for size in (10, 1000):
        pool = WorkerPool()
        for i in range(size):
            pool.add(link(f"w{i}", offer(max_active=8)))
        rng = random.Random(1)
        built = 0
        for _ in range(100):
            got = pool.choose("m", 1000, rng, exclude={"w1"}, endpoint=CHAT)
            assert isinstance(got, Chosen)
            got_link = pool.links[got.worker.worker_id]
            got_link.active += 1  # as routing does around a request: the index and caches follow
            got_link.active -= 1
            got_link.observe(Outcome(True, 0.05, 0.2, 16, streamed=True), now=float(rng.random()))
        per_size[size] = built
    # The few drawn per request (and the one measured after it), never one per worker.
    assert per_size[1000] <= 100 * (CHOICES + 1)
    assert per_size[1000] <= per_size[10] * 3


def test_ready_set_draws_every_member_and_forgets_removed_ones() -> None:
    ready = ReadySet()
    for i in range(10):
        ready.add(f"w{i}")
    ready.add("w3")
    for i in (0, 9, 4):
        ready.discard(f"w{i}")
    ready.discard("absent")
    assert sorted(ready) == sorted(f"w{i}" for i in (1, 2, 3, 5, 6, 7, 8))
    rng = random.Random(5)
    assert {ready.draw(rng) for _ in range(500)} == set(ready)


def test_worker_types_follow_load_and_offer_changes_of_cached_entries() -> None:
    pool = WorkerPool()
    for worker_id in ("a", "b"):
        pool.add(link(worker_id, offer(max_active=4)))
    (first,) = pool.worker_types()
    assert [w.active for w in first.worker_loads] == [0, 0]
    pool.links["a"].active += 2
    pool.links["b"].state = offer(coefficient=3000, max_active=4)
    (second,) = pool.worker_types()
    assert [(w.active, w.coefficient) for w in second.worker_loads] == [(2, 1000), (0, 3000)]
    assert second.worker_loads[1].prompt_nano_per_mtok > second.worker_loads[0].prompt_nano_per_mtok
    assert pool.worker_types() == [second]  # unchanged links: the same entries

"""choose_worker: model match, price ceiling, capacity, power-of-two choice, exclusions."""

from __future__ import annotations

import random
from collections import Counter

from cocoon.proxy.selection import (
    Chosen,
    NoCapacity,
    NoSuchModel,
    PriceTooLow,
    WorkerCandidate,
    choose_worker,
)


def w(wid: str, **kw: object) -> WorkerCandidate:
    base: dict[str, object] = {"model": "m", "coefficient": 1000, "max_active": 4, "active": 0}
    base.update(kw)
    return WorkerCandidate(worker_id=wid, **base)  # type: ignore[arg-type]


def test_unknown_model() -> None:
    assert choose_worker([w("a")], "other", 4000, random.Random(1)) == NoSuchModel("other")


def test_price_ceiling_reports_cheapest() -> None:
    got = choose_worker([w("a", coefficient=5000), w("b", coefficient=3000)], "m", 2000, random.Random(1))
    assert got == PriceTooLow(3000)


def test_full_or_disabled_workers_mean_no_capacity() -> None:
    got = choose_worker([w("a", active=4), w("b", enabled=False)], "m", 4000, random.Random(1))
    assert got == NoCapacity(2)


def test_only_affordable_with_capacity_is_chosen() -> None:
    cands = [w("a", coefficient=9000), w("b", active=4), w("c")]
    assert choose_worker(cands, "m", 4000, random.Random(1)) == Chosen(cands[2])


def test_excluded_worker_is_not_chosen_again() -> None:
    cands = [w("a"), w("b")]
    for seed in range(20):
        got = choose_worker(cands, "m", 4000, random.Random(seed), exclude={"a"})
        assert isinstance(got, Chosen) and got.worker.worker_id == "b"
    assert choose_worker(cands, "m", 4000, random.Random(1), exclude={"a", "b"}) == NoSuchModel("m")


def test_power_of_two_prefers_less_loaded_and_faster() -> None:
    cands = [w("busy", active=3), w("idle"), w("slow", expected_latency_s=10.0)]
    counts: Counter[str] = Counter()
    rng = random.Random(7)
    for _ in range(600):
        got = choose_worker(cands, "m", 4000, rng)
        assert isinstance(got, Chosen)
        counts[got.worker.worker_id] += 1
    # "idle" wins every pair it is drawn in (2/3 of draws); "slow" never beats "busy" or "idle".
    assert counts["slow"] == 0
    assert counts["idle"] > counts["busy"] > 0


def test_ties_are_randomized() -> None:
    cands = [w("a"), w("b")]
    rng = random.Random(3)
    picks = {choose_worker(cands, "m", 4000, rng).worker.worker_id for _ in range(50)}  # type: ignore[union-attr]
    assert picks == {"a", "b"}

"""What routing learns of a worker (`cocoon.proxy.estimates`) and how it explores (`WorkerPool.choose`).

The estimator: decayed means with a half-life in seconds of a clock passed in, time to first token and
time per output token (so one long answer does not make a fast worker look slow), success, and the
optimism that fades measured figures back towards the best as their evidence ages. Exploration: equal
workers share sequential requests, a newly joined worker is tried, an idle one gets a probe after a
while, price breaks ties, and a seeded random source repeats its choices.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import cast

import pytest

from cocoon.net.rpc import RpcConnection
from cocoon.proxy.estimates import (
    HALF_LIFE_S,
    PRIOR_WEIGHT,
    REFERENCE_TOKENS,
    DecayedMean,
    Outcome,
    WorkerStats,
    decay,
    optimistic,
)
from cocoon.proxy.selection import Chosen, WorkerCandidate, best_of
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.wire.messages import WorkerState

# --- decayed means -------------------------------------------------------------------------------


def test_a_decayed_mean_weighs_a_sample_one_half_life_old_half() -> None:
    mean = DecayedMean().add(10.0, now=100.0, half_life_s=60.0)
    assert mean.value(default=99.0) == 10.0  # the first sample is the mean: no prior pulls it
    mean = mean.add(0.0, now=160.0, half_life_s=60.0)
    assert mean.value(0.0) == pytest.approx(10 * 0.5 / 1.5)
    assert mean.weight_at(220.0, 60.0) == pytest.approx(1.5 * 0.5)
    assert DecayedMean().value(default=7.0) == 7.0


def test_decay_is_one_for_no_time_or_a_clock_that_went_back() -> None:
    assert decay(0.0, 60.0) == decay(-5.0, 60.0) == 1.0
    assert decay(120.0, 60.0) == pytest.approx(0.25)
    late = DecayedMean().add(4.0, now=50.0, half_life_s=60.0).add(2.0, now=40.0, half_life_s=60.0)
    assert late.value(0.0) == 3.0 and late.at == 50.0


# --- time to first token and time per output token ------------------------------------------------


def streamed(first: float, per_token: float, tokens: int) -> Outcome:
    return Outcome(True, first, first + per_token * (tokens - 1), tokens, streamed=True)


def test_a_long_answer_does_not_make_a_fast_worker_look_slow() -> None:
    fast, slow = WorkerStats(), WorkerStats()
    fast_tokens = [20, 4000, 30, 25]  # one answer 200 times longer than the others
    slow_tokens = [20, 30, 25, 20]
    for now, (long, short) in enumerate(zip(fast_tokens, slow_tokens, strict=True)):
        fast = fast.observe(streamed(0.2, 0.01, long), float(now))
        slow = slow.observe(streamed(0.2, 0.03, short), float(now))  # three times slower per token
    assert fast.ttft.value(0.0) == pytest.approx(0.2) and fast.tpot.value(0.0) == pytest.approx(0.01)
    assert fast.expected_s(0.0) == pytest.approx(0.2 + REFERENCE_TOKENS * 0.01)
    assert slow.expected_s(0.0) == pytest.approx(0.2 + REFERENCE_TOKENS * 0.03)
    # Whole-request time, what was measured before, ranks them the other way round.
    whole_fast = sum(0.2 + 0.01 * (t - 1) for t in fast_tokens) / 4
    whole_slow = sum(0.2 + 0.03 * (t - 1) for t in slow_tokens) / 4
    assert whole_fast > 5 * whole_slow and fast.expected_s(0.0) < slow.expected_s(0.0) / 2


def test_a_whole_answer_counts_its_time_beyond_the_usual_first_token_as_generation() -> None:
    stats = WorkerStats().observe(streamed(0.5, 0.02, 11), 0.0)
    stats = stats.observe(Outcome(True, 2.5, 2.5, 100, streamed=False), 1.0)  # one chunk at the end
    assert stats.ttft.value(0.0) == pytest.approx(0.5)  # a whole answer gives no TTFT sample
    assert stats.tpot.value(0.0) == pytest.approx((0.02 + (2.5 - 0.5) / 100) / 2)


def test_an_answer_of_unknown_kind_is_judged_by_when_its_content_came() -> None:
    spread = WorkerStats().observe(Outcome(True, 0.5, 2.5, 101, streamed=None), 0.0)
    assert spread.ttft.value(0.0) == pytest.approx(0.5) and spread.tpot.value(0.0) == pytest.approx(0.02)
    at_the_end = WorkerStats().observe(Outcome(True, 2.49, 2.5, 100, streamed=None), 0.0)
    assert at_the_end.ttft.weight == 0 and at_the_end.tpot.value(0.0) == pytest.approx(0.025)


def test_failures_lower_success_and_leave_the_speed_alone() -> None:
    stats = WorkerStats().observe(streamed(0.3, 0.01, 50), 0.0)
    before = stats.expected_s(0.0)
    stats = stats.observe(Outcome(False, None, None), 1.0).observe(Outcome(False, 0.1), 2.0)
    d1, d2 = decay(1.0, HALF_LIFE_S), decay(2.0, HALF_LIFE_S)
    assert stats.success_rate() == pytest.approx(d2 / (d2 + d1 + 1))
    assert stats.expected_s(0.0) == before
    assert stats.evidence == pytest.approx(d2 + d1 + 1) and stats.measured_at == 2.0
    assert WorkerStats().expected_s(default=1.5) == 1.5  # nothing measured: the caller's figure


def test_an_answer_of_one_token_or_none_gives_no_time_per_token() -> None:
    stats = WorkerStats().observe(Outcome(True, 0.4, 0.4, 1, streamed=True), 0.0)
    stats = stats.observe(Outcome(True, None, 0.2, 0, streamed=False), 1.0)
    assert stats.tpot.weight == 0 and stats.ttft.value(0.0) == pytest.approx(0.4)


# --- optimism: what is not (or no longer) known looks good ----------------------------------------


def test_optimism_fades_figures_towards_the_best_as_their_evidence_ages() -> None:
    seconds, success = optimistic(10.0, 0.5, evidence=4.0, measured_at=0.0, now=0.0)
    trust = 4 / (4 + PRIOR_WEIGHT)
    assert (seconds, success) == pytest.approx((10 * trust, 0.5 * trust + 1 - trust))
    old_seconds, old_success = optimistic(10.0, 0.5, 4.0, 0.0, now=10 * HALF_LIFE_S)
    assert old_seconds < 0.1 and old_success > 0.99
    assert optimistic(10.0, 0.5, 4.0, 0.0, now=None) == (seconds, success)  # no time given: no fading
    assert optimistic(10.0, 0.5, evidence=0.0, measured_at=0.0, now=1e9) == (10.0, 0.5)  # not learned


# --- exploration in the pool ----------------------------------------------------------------------


def pool_of(count: int, *, coefficient: int = 1000, max_active: int = 4) -> WorkerPool:
    pool = WorkerPool()
    for i in range(count):
        join(pool, f"w{i}", coefficient=coefficient, max_active=max_active)
    return pool


def join(pool: WorkerPool, worker_id: str, *, coefficient: int = 1000, max_active: int = 4) -> WorkerLink:
    state = WorkerState(True, "m", coefficient, max_active, 0, "", 0, ())
    link = WorkerLink(worker_id, cast(RpcConnection, object()), "img", state=state)
    pool.add(link)
    return link


def serve_sequentially(
    pool: WorkerPool, rng: random.Random, requests: int, speed: dict[str, float], start: float = 0.0
) -> list[str]:
    """``requests`` one after another, each measured as its worker's speed says (noise of 5%)."""
    noise = random.Random(99)
    chosen = []
    now = start
    for _ in range(requests):
        got = pool.choose("m", 1000, rng, now=now)
        assert isinstance(got, Chosen)
        worker_id = got.worker.worker_id
        chosen.append(worker_id)
        per_token = speed.get(worker_id, 0.01) * noise.uniform(0.95, 1.05)
        now += 1.0
        pool.links[worker_id].observe(streamed(0.2, per_token, 50), now)
    return chosen


def test_equal_workers_share_sequential_requests() -> None:
    pool = pool_of(2)  # both always drawn: only the comparison decides
    chosen = Counter(serve_sequentially(pool, random.Random(1), 30, {}))
    assert set(chosen) == {"w0", "w1"} and min(chosen.values()) >= 8  # not 30 of 30 on one of them


def test_a_worker_that_joins_a_measured_fleet_is_tried_at_once() -> None:
    pool = pool_of(6)
    rng = random.Random(2)
    serve_sequentially(pool, rng, 60, {})
    join(pool, "new")
    chosen = serve_sequentially(pool, rng, 40, {}, start=60.0)
    assert "new" in chosen[:10]  # drawn in one of the first few requests: unmeasured, it wins
    assert pool.links["new"].served >= 1 and pool.links["new"].stats.evidence > 0


def test_a_slow_worker_is_avoided_and_probed_again_once_its_evidence_faded() -> None:
    pool = pool_of(2)
    rng = random.Random(3)
    chosen = serve_sequentially(pool, rng, 20, {"w0": 0.5})  # w0: 50 times slower per token
    assert chosen.count("w0") <= 2  # tried once or twice (unmeasured), then avoided
    slow, fast = (pool.links[w].candidate() for w in ("w0", "w1"))
    assert slow is not None and fast is not None
    assert best_of([slow, fast], rng, now=fast.measured_at + 1.0) is fast
    later = slow.measured_at + 12 * HALF_LIFE_S  # w0 idle since, w1 still serving
    pool.links["w1"].observe(streamed(0.2, 0.01, 50), later)
    fresh = pool.links["w1"].candidate()
    assert best_of([slow, fresh], rng, now=later) is slow  # its bad figures are old news: a probe


def candidate(worker_id: str, latency: float, coefficient: int) -> WorkerCandidate:
    return WorkerCandidate(worker_id, "m", coefficient, 4, 0, expected_latency_s=latency)


def test_price_breaks_ties_and_only_ties() -> None:
    rng = random.Random(4)
    cheap_close = candidate("cheap", 1.1, 500)
    dear_fast = candidate("dear", 1.0, 2000)
    assert {best_of([cheap_close, dear_fast], rng).worker_id for _ in range(20)} == {"cheap"}
    cheap_slow = candidate("cheap", 1.5, 500)  # 50% slower: not a tie
    assert {best_of([cheap_slow, dear_fast], rng).worker_id for _ in range(20)} == {"dear"}
    same_price = [candidate("a", 1.0, 1000), candidate("b", 1.1, 1000)]
    assert {best_of(same_price, rng).worker_id for _ in range(40)} == {"a", "b"}  # a coin toss


def test_a_seeded_random_source_repeats_the_choices() -> None:
    runs = [serve_sequentially(pool_of(12), random.Random(5), 50, {"w3": 0.1}) for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 3

"""choose_worker: model match, price ceiling, capacity, power-of-two choice, exclusions."""

from __future__ import annotations

import random
from collections import Counter
from typing import cast

from cocoon.net.rpc import RpcConnection
from cocoon.proxy.admission import admitted_offer
from cocoon.proxy.selection import (
    Chosen,
    EndpointNotServed,
    NoCapacity,
    NoSuchModel,
    PriceTooLow,
    WorkerCandidate,
    choose_worker,
)
from cocoon.proxy.workers import WorkerLink
from cocoon.wire.messages import WorkerState


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


def test_power_of_d_choices_prefers_less_loaded_and_faster() -> None:
    cands = [w(f"{kind}{i}", **kw) for kind, kw in KINDS.items() for i in range(2)]
    counts: Counter[str] = Counter()
    rng = random.Random(7)
    for _ in range(600):
        got = choose_worker(cands, "m", 4000, rng)
        assert isinstance(got, Chosen)
        counts[got.worker.worker_id.rstrip("01")] += 1
    # Three of the six are drawn: an idle one wins whenever drawn (4 draws in 5), a busy one when no
    # idle one is (a draw of three from the four others holds a busy one); a slow one never wins.
    assert counts["slow"] == 0
    assert counts["idle"] > counts["busy"] > 0


KINDS: dict[str, dict[str, object]] = {
    "busy": {"active": 3},
    "idle": {},
    "slow": {"expected_latency_s": 10.0},
}


def test_ties_are_randomized() -> None:
    cands = [w("a"), w("b")]
    rng = random.Random(3)
    picks = {choose_worker(cands, "m", 4000, rng).worker.worker_id for _ in range(50)}  # type: ignore[union-attr]
    assert picks == {"a", "b"}


EMBED = "/v1/embeddings"
CHAT = "/v1/chat/completions"


def test_only_workers_that_declared_the_endpoint_are_chosen() -> None:
    workers = [w("chat-only", endpoints=(CHAT,)), w("both", endpoints=(CHAT, EMBED))]
    rng = random.Random(3)
    picks = {choose_worker(workers, "m", 4000, rng, endpoint=EMBED) for _ in range(20)}
    assert picks == {Chosen(workers[1])}
    assert choose_worker(workers, "m", 4000, rng, endpoint=CHAT) in {Chosen(workers[0]), Chosen(workers[1])}


def test_no_worker_for_the_endpoint_names_endpoint_and_model() -> None:
    workers = [
        w("a", endpoints=(CHAT,)),
        w("b", model="other", endpoints=(EMBED,)),
        w("c", endpoints=(CHAT, "/v1/completions")),
    ]
    got = choose_worker(workers, "m", 4000, random.Random(1), endpoint=EMBED)
    assert got == EndpointNotServed(EMBED, "m", ("a", "c"), (CHAT, "/v1/completions"))
    # an unknown model is still that, whatever the endpoint
    assert choose_worker(workers, "nope", 4000, random.Random(1), endpoint=EMBED) == NoSuchModel("nope")


def test_the_endpoint_filter_comes_before_price_and_exclusions() -> None:
    workers = [w("a", coefficient=5000, endpoints=(CHAT,)), w("b", endpoints=(EMBED,))]
    rng = random.Random(1)
    assert choose_worker(workers, "m", 4000, rng, endpoint=CHAT) == PriceTooLow(5000)
    # the one embedding worker already failed: no other worker, not "endpoint not served"
    assert choose_worker(workers, "m", 4000, rng, exclude={"b"}, endpoint=EMBED) == NoSuchModel("m")
    # without an endpoint nothing is filtered (callers that do not route by path)
    assert choose_worker([w("c")], "m", 4000, rng) == Chosen(w("c"))


def test_a_worker_that_declares_no_endpoints_is_routed_chat_and_completions_only() -> None:
    """Workers from before the endpoint probe declare none: they keep getting what they served."""
    old = WorkerState(enabled=True, model="m", coefficient=1000, max_active=4, active=0)
    link = WorkerLink("old", cast(RpcConnection, None), "img", state=admitted_offer(old))
    candidate = link.candidate()
    assert candidate is not None
    for path in ("/v1/chat/completions", "/v1/completions"):
        assert isinstance(choose_worker([candidate], "m", 1000, random.Random(1), endpoint=path), Chosen)
    embeddings = choose_worker([candidate], "m", 1000, random.Random(1), endpoint="/v1/embeddings")
    assert embeddings == EndpointNotServed(
        "/v1/embeddings", "m", ("old",), ("/v1/chat/completions", "/v1/completions")
    )

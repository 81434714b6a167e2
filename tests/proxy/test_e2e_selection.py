"""The pure parts of end-to-end routing: `choose_worker(allowed=...)`, `e2e_candidates`, and the
header checks of `read_e2e_request`."""

from __future__ import annotations

import os
import random

import msgspec
import pytest

from cocoon.e2e.envelope import Routing, seal_request
from cocoon.e2e.suite import HpkeKeyPair
from cocoon.errors import E2EError
from cocoon.proxy.e2e_routing import read_e2e_request
from cocoon.proxy.selection import Chosen, NoSuchModel, WorkerCandidate, choose_worker, e2e_candidates
from cocoon.wire.messages import RunQuery

NOW = 1_700_000_000.0
CHAT = "/v1/chat/completions"


def w(wid: str, **kw: object) -> WorkerCandidate:
    base: dict[str, object] = {
        "model": "m",
        "coefficient": 1000,
        "max_active": 4,
        "active": 0,
        "endpoints": (CHAT,),
        "e2e_key_ids": (wid.encode().ljust(8, b"_"),),
        "e2e_certificate_sha256": b"c" * 32,
        "e2e_not_after": int(NOW) + 3600,
    }
    base.update(kw)
    return WorkerCandidate(worker_id=wid, **base)  # type: ignore[arg-type]


def test_allowed_keeps_only_those_workers() -> None:
    cands = [w("a"), w("b"), w("c")]
    for seed in range(20):
        got = choose_worker(cands, "m", 4000, random.Random(seed), allowed={"b", "c"})
        assert isinstance(got, Chosen) and got.worker.worker_id in {"b", "c"}
    assert choose_worker(cands, "m", 4000, random.Random(1), {"b"}, allowed={"b"}) == NoSuchModel("m")
    assert choose_worker(cands, "m", 4000, random.Random(1), allowed=set()) == NoSuchModel("m")


def test_e2e_candidates_filter() -> None:
    cands = [
        w("ok"),
        w("disabled", enabled=False),
        w("model", model="other"),
        w("endpoint", endpoints=("/v1/embeddings",)),
        w("price", coefficient=5000),
        w("nokey", e2e_certificate_sha256=b"", e2e_key_ids=()),
        w("expired", e2e_not_after=int(NOW) - 1),
        w("busy", active=4),
    ]
    got = e2e_candidates(cands, "m", 4000, CHAT, 10, NOW)
    assert [c.worker_id for c in got] == ["ok", "busy"]  # a busy worker is still a candidate, last


def test_e2e_candidates_rank_free_slots_then_success_then_latency_and_stop_at_want() -> None:
    cands = [
        w("slow", expected_latency_s=9.0),
        w("flaky", success_rate=0.4),
        w("roomy", max_active=16),
        w("fast", expected_latency_s=0.1),
        w("loaded", active=3),
    ]
    got = e2e_candidates(cands, "m", 4000, CHAT, 10, NOW)
    assert [c.worker_id for c in got] == ["roomy", "fast", "slow", "flaky", "loaded"]
    assert [c.worker_id for c in e2e_candidates(cands, "m", 4000, CHAT, 2, NOW)] == ["roomy", "fast"]


def _request(**changes: object) -> tuple[RunQuery, bytes]:
    pair = HpkeKeyPair.generate(os.urandom, int(NOW) + 3600)
    routing = Routing("0000000000000001", "m", CHAT, 64, 3, 2000)
    sealed = seal_request(
        b'{"model": "m"}',
        routing,
        [(pair.key_id, pair.public_key)],
        issued_at=int(NOW),
        random_bytes=os.urandom,
    )
    query = RunQuery(1, "m", b"", 2000, 64, 1000, path=CHAT, client_request_id="0000000000000001")
    query = msgspec.structs.replace(query, e2e=sealed.envelope, **changes)
    return query, sealed.envelope.header


def test_read_e2e_request_takes_n_from_the_header_and_refuses_any_other_difference() -> None:
    query, _ = _request()
    e2e = read_e2e_request(query)
    assert e2e is not None and e2e.header.n == 3 and e2e.key_ids == frozenset(e2e.header.key_ids)
    assert read_e2e_request(msgspec.structs.replace(query, e2e=None)) is None
    for change in ({"max_tokens": 63}, {"model": "x"}, {"path": "/v1/completions"}, {"max_coefficient": 1}):
        bad, _ = _request(**change)
        with pytest.raises(E2EError) as caught:
            read_e2e_request(bad)
        assert caught.value.code == "e2e_header_mismatch"

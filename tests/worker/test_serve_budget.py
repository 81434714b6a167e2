"""A client's `RunQuery.max_tokens` is the budget the proxy reserved; the worker never generates more.

A modified client can send any `RunQuery` it likes: a budget of 0, or a small one next to a body that
asks for 30,000 tokens, many choices, no cap at all. Whatever it sends, the engine is never asked for
more than the budget (each choice gets ``budget // choices``), a budget of 0 (or one too small to give
every choice a token) is refused before the engine is called, and what is served then costs no more
than what was reserved for it, so the charge is never capped and the worker is paid for every token.
An end-to-end encrypted body is held to the same budget (its header's, which the proxy reserved for):
the worker clamps it, as spec/e2e.md's "usual rewrites (max-tokens cap)" say, rather than refusing it.
The proxy's own refusal of a budget of 0 is in ``tests/proxy/test_completion_budget.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_serve_e2e import E2ESink, e2e_worker, open_frames, seal
from worker_fakes import Sink, query

from cocoon.api.validation import Limits
from cocoon.e2e.frames import FrameType
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.payments.params import DEFAULT_PARAMS
from cocoon.payments.pricing import adjusted_tokens, reservation_tokens
from cocoon.wire.messages import RunQuery
from cocoon.worker.serve import RequestServer

GREEDY = 400
"""Tokens the test engine would generate for one choice if nothing capped it."""
COEFFICIENT = 1000


def greedy_worker() -> tuple[RequestServer, MemoryEngine]:
    engine = MemoryEngine(FakeEngineConfig(chunks=GREEDY))
    return RequestServer(engine, FAKE_MODEL, Limits(), "w1"), engine


def asked_per_choice(engine: MemoryEngine) -> int:
    """The generation cap of each choice the engine was asked for (one call)."""
    [(_, body)] = engine.calls
    return int(body.get("max_output_tokens") or body["max_tokens"])


def charged_within_reservation(request: RunQuery, sink: Sink) -> tuple[int, int]:
    """(adjusted tokens the served usage costs, adjusted tokens reserved for the request)."""
    assert sink.final is not None and sink.final.usage is not None
    cost = adjusted_tokens(sink.final.usage, COEFFICIENT, DEFAULT_PARAMS).total
    return cost, reservation_tokens(request.max_tokens, len(request.body), COEFFICIENT)


async def test_a_budget_of_0_next_to_a_body_asking_30000_tokens_never_reaches_the_engine() -> None:
    worker, engine = greedy_worker()
    sink = Sink()
    await worker.serve(query(max_tokens=30_000, cap=0), sink, max_active=4)
    assert sink.final is not None and (sink.final.kind, sink.final.status) == ("error", 400)
    assert "reserved 0 completion tokens" in sink.final.message
    assert engine.calls == [] and worker.counters.completion_tokens == 0


async def test_a_small_budget_next_to_a_body_asking_30000_is_served_within_it_and_paid_in_full() -> None:
    worker, engine = greedy_worker()
    request = query(max_tokens=30_000, cap=5)
    sink = Sink()
    await worker.serve(request, sink, max_active=4)
    assert sink.final is not None and sink.final.kind == "end", sink.final
    assert asked_per_choice(engine) == 5
    assert sink.final.usage is not None and sink.final.usage.completion_tokens == 5
    cost, reserved = charged_within_reservation(request, sink)
    assert cost <= reserved  # the proxy charges it all: nothing is cut off by the reservation


async def test_a_body_without_a_cap_gets_the_default_cap_within_the_budget() -> None:
    worker, engine = greedy_worker()
    body = json.dumps({"model": FAKE_MODEL, "messages": [{"role": "user", "content": "a b"}]}).encode()
    request = RunQuery(7, FAKE_MODEL, body, COEFFICIENT, 10**6, 0)
    sink = Sink()
    await worker.serve(request, sink, max_active=4)
    assert asked_per_choice(engine) == Limits().default_max_tokens  # never "no cap" for the engine
    assert sink.final is not None and sink.final.usage is not None
    assert sink.final.usage.completion_tokens == GREEDY


async def test_an_end_to_end_body_asking_more_than_its_header_is_clamped_to_the_header() -> None:
    worker = e2e_worker(chunks=GREEDY)
    request, sealed = seal(query(max_tokens=30_000, cap=6, words="one two"), [worker.key()])
    sink = E2ESink()
    await worker.server.serve(request, sink, max_active=4)
    assert sink.final is not None and sink.final.kind == "end", sink.final
    assert isinstance(worker.engine, MemoryEngine) and asked_per_choice(worker.engine) == 6
    assert sink.final.usage is not None and sink.final.usage.completion_tokens == 6
    _, frames = open_frames(sink, sealed)
    assert frames[-1].kind is FrameType.FINAL
    data = [frame.payload for frame in frames if frame.kind is FrameType.DATA]
    assert len(Sink(chunks=data).content().split()) == 6  # what the client reads: six words


# --- the property: over every body and budget, never more than the budget -------------------------

caps = st.none() | st.integers(1, 40_000)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": caps,
        "max_completion_tokens": caps,
        "n": st.none() | st.integers(1, 8),
        "stream": st.booleans(),
    },
)
completion_bodies = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": caps,
        "n": st.none() | st.integers(1, 4),
        "best_of": st.integers(4, 6),
        "stream": st.booleans(),
    },
)
responses_bodies = st.fixed_dictionaries({}, optional={"max_output_tokens": caps, "stream": st.booleans()})
requests = st.one_of(
    st.tuples(st.just("/v1/chat/completions"), chat_bodies),
    st.tuples(st.just("/v1/completions"), completion_bodies),
    st.tuples(st.just("/v1/responses"), responses_bodies),
)
PROMPT = {
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "one two three"}]},
    "/v1/completions": {"prompt": "one two three"},
    "/v1/responses": {"input": "one two three"},
}


def _choices(fields: dict[str, Any]) -> int:
    return max(fields.get("n") or 1, fields.get("best_of") or 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.integers(0, 3000), st.integers(1, 2 * GREEDY))
def test_the_worker_never_generates_more_than_the_budget_the_proxy_reserved(
    path_fields: tuple[str, dict[str, Any]], budget: int, greedy: int
) -> None:
    path, fields = path_fields
    body = json.dumps({"model": FAKE_MODEL, **PROMPT[path], **fields}).encode()
    request = RunQuery(7, FAKE_MODEL, body, COEFFICIENT, budget, 0, path=path)
    engine = MemoryEngine(FakeEngineConfig(chunks=greedy))
    worker = RequestServer(engine, FAKE_MODEL, Limits(), "w1")
    sink = Sink()
    asyncio.run(worker.serve(request, sink, max_active=4))
    assert sink.final is not None
    choices = _choices(fields)
    if budget < choices:  # not one token for every choice: refused, the engine never asked
        assert (sink.final.kind, sink.final.status) == ("error", 400)
        assert engine.calls == []
        return
    assert asked_per_choice(engine) * choices <= budget
    assert worker.counters.completion_tokens <= budget
    if sink.final.kind == "end":
        cost, reserved = charged_within_reservation(request, sink)
        assert cost <= reserved

"""The worker's hop timings of a request sent with ``debug`` (``enable_debug``), and none without.

A clock that ticks one millisecond at every reading makes each point the worker passes distinct: the
engine call comes after the arrival, the first token after the call, the end after the first token.
"""

from __future__ import annotations

import msgspec
import pytest
from worker_fakes import Sink, query

from cocoon.api.validation import Limits
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.worker.serve import RequestServer


class TickingClock:
    """Monotonic readings 1 ms apart: every reading is a distinct, later instant."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        self.now += 0.001
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0


def server(clock: TickingClock) -> RequestServer:
    return RequestServer(MemoryEngine(FakeEngineConfig()), FAKE_MODEL, Limits(), "w1", clock=clock)


@pytest.mark.parametrize("stream", [True, False])
async def test_a_debugged_request_reports_the_workers_hop_in_order(stream: bool) -> None:
    sink = Sink()
    request = msgspec.structs.replace(query(stream=stream), debug=True)
    await server(TickingClock()).serve(request, sink, max_active=4)
    assert sink.final is not None and sink.final.kind == "end"
    assert sink.final.debug is not None and sink.final.debug.proxy is None  # the proxy adds its own
    hop = sink.final.debug.worker
    assert hop is not None
    assert 0 < hop.sent_us <= hop.first_byte_us < hop.done_us
    assert hop.done_us <= 60_000  # readings are 1 ms apart: a handful of them, not a wild number


@pytest.mark.parametrize("stream", [True, False])
async def test_without_debug_no_hop_is_measured_or_sent(stream: bool) -> None:
    clock = TickingClock()
    sink = Sink()
    await server(clock).serve(query(stream=stream), sink, max_active=4)
    assert sink.final is not None and sink.final.kind == "end" and sink.final.debug is None
    debugged = TickingClock()
    request = msgspec.structs.replace(query(stream=stream), debug=True)
    await server(debugged).serve(request, Sink(), max_active=4)
    # The clock readings taken for the hop are the only difference: none happen without debug.
    assert debugged.now - clock.now == pytest.approx(0.002)

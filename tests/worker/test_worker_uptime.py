"""The worker's uptime in its stats is read on the clock it is given."""

from __future__ import annotations

from cocoon.clock import FakeClock
from cocoon.engine.memory import MemoryEngine
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.roles import WorkerConfig
from cocoon.worker.service import WorkerService


def test_uptime_counts_from_construction_on_the_injected_clock() -> None:
    clock = FakeClock()
    worker = WorkerService(
        WorkerConfig(), MemoryEngine(), make_identity("", "fake"), make_policy("fake"), clock=clock
    )
    assert worker.stats()["uptime_s"] == 0.0
    clock.advance(3600)
    assert worker.stats()["uptime_s"] == 3600.0

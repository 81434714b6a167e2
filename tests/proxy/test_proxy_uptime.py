"""The proxy's uptime in its stats is read on the clock it is given."""

from __future__ import annotations

from pathlib import Path

from cocoon.clock import FakeClock
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService
from cocoon.roles import ProxyConfig


async def test_uptime_counts_from_construction_on_the_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = Ledger(tmp_path / "state.db")
    try:
        proxy = ProxyService(
            ProxyConfig(worker_port=0, client_port=0),
            make_identity("", "fake"),
            make_policy("fake"),
            make_policy("any"),
            ledger,
            clock=clock,
        )
        await proxy.start()
        try:
            assert proxy.stats()["uptime_s"] == 0.0
            clock.advance(42.5)
            assert proxy.stats()["uptime_s"] == 42.5
        finally:
            await proxy.aclose()
    finally:
        ledger.close()

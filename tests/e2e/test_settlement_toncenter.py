"""The settlement cycle of ``test_settlement`` with every node on the toncenter adapter with its request
budget on (``chain = "toncenter"``, 10 requests/s per node, as with a toncenter API key): requests are
paid exactly, the shares reach the worker's and proxy's owners, the close refunds the rest, and no node
went above its budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from netproc import RunningNet, start_net, stop_net
from test_settlement import FAST
from test_settlement import test_requests_are_settled_exactly_and_the_close_refunds_the_rest as settle_cycle

RATE = 10.0
TONCENTER = {**FAST, "COCOON_CHAIN": "toncenter", "COCOON_CHAIN_RATE_PER_S": str(RATE)}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[RunningNet]:
    running = start_net(tmp_path / "net", workers=1, env=TONCENTER)
    try:
        yield running
    finally:
        stop_net(running)


def test_a_settlement_cycle_through_the_rate_limited_toncenter_adapter(net: RunningNet) -> None:
    settle_cycle(net)
    logs = net.data_dir / "logs"
    for node in ("proxy", "worker-1", "client"):
        assert (
            f"chain: toncenter API at http://127.0.0.1:{13000 + net.base} ({RATE:g} requests/s)"
            in (logs / f"{node}.log").read_text()
        ), node
    counts = [
        net.proxy_stats()["chain"]["requests"],
        net.worker_stats(1)["payouts"]["chain_requests"],
    ]
    for stats in counts:
        assert stats["requests"] > 0
        assert stats["per_minute"] <= RATE * 60 + 60  # the budget (plus one burst token per second at most)
    assert counts[0]["by_method"]["getTransactions"] > 0  # the proxy read its contract through it

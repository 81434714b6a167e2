"""benchmarks/bench_routing.py at tiny sizes: it prints the three policies for each fleet, and on a
skewed fleet (a quarter of the workers slow, some flaky) the proxy's learned routing has a lower p99
latency than round robin (same arrivals, sizes, noise and failures for every policy)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_routing import main


def test_the_learned_policy_beats_round_robin_on_p99_for_a_skewed_fleet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = main(["--workers", "16", "--requests", "1500", "--seed", "3"])
    printed = capsys.readouterr().out
    for name in ("learned (proxy)", "round robin", "least loaded"):
        assert printed.count(name) == 2  # one row per fleet
    learned, round_robin, least_loaded = results["skewed fleet"]
    assert (learned.policy, round_robin.policy, least_loaded.policy) == (
        "learned (proxy)",
        "round robin",
        "least loaded",
    )
    assert learned.served + learned.failed == 1500
    assert learned.p99_s < round_robin.p99_s
    assert learned.slow_share < round_robin.slow_share

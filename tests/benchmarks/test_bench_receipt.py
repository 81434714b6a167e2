"""benchmarks/bench_receipt.py at a tiny size: it measures and prints every operation, the client's v2
receipt check both ways among them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_receipt import main


def test_it_prints_each_operation_and_the_v2_check_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    found = main(["-n", "5", "--rounds", "1"])
    printed = capsys.readouterr().out
    assert {"receipt verify (client)", "v2 check by signature", "v2 check by tag"} <= set(found)
    assert all(us > 0 for us in found.values())
    assert "v2 receipt check (client)" in printed and "by tag" in printed

"""benchmarks/bench_e2e.py at a tiny size: it measures and prints the three operations both ways."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_e2e import main


def test_it_prints_each_operation_with_and_without_reuse(capsys: pytest.CaptureFixture[str]) -> None:
    rows = main(["-n", "20", "--rounds", "1"])
    printed = capsys.readouterr().out
    names = ["client seals to 1 key", "client seals to 3 keys", "worker opens the envelope"]
    assert [name for name, _, _ in rows] == names
    assert all(name in printed for name in names)
    assert all(fresh > 0 and kept > 0 for _, fresh, kept in rows)

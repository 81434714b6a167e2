"""benchmarks/bench_ledger.py at a tiny size: both key orders, into an empty and a filled ledger."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_ledger import main


def test_it_prints_both_key_orders_for_both_table_sizes_and_both_page_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results, pages = main(["--rows", "300", "--requests", "60", "--batch", "6"])
    printed = capsys.readouterr().out
    assert [rows for rows, *_ in results] == [0, 300]
    assert all(min(values) > 0 for _, *values in results)
    assert "ordered by sequence" in printed and "| 300 |" in printed
    assert [batch for batch, *_ in pages] == [1, 6]
    assert all(min(values) > 0 for _, *values in pages)
    assert "2048-byte pages | 4096-byte pages" in printed

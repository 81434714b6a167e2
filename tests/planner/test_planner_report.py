"""Report formatting: exact TON strings from int nanoTON, coefficients, and which rows show."""

from __future__ import annotations

import pytest

from cocoon.payments import DEFAULT_PARAMS
from cocoon.planner import DEFAULT_ASSUMPTIONS, GpuInputs, load_catalog, plan_gpu
from cocoon.planner.report import gpu_report, gpus_report, shown_options, times, ton, ton_rounded


@pytest.mark.parametrize(
    ("nano", "text"),
    [
        (1_967_032_000, "1.967"),
        (1_967_500_000, "1.968"),  # half rounds up
        (1_234_567_890_123, "1,234.568"),
        (0, "0.000"),
    ],
)
def test_ton_rounded(nano: int, text: str) -> None:
    assert ton_rounded(nano) == text


def test_exact_ton_and_coefficient() -> None:
    assert ton(16_000_000_000) == "16 TON"
    assert ton(111_111_112) == "0.111111112 TON"
    assert (times(1000), times(1250), times(4000), times(1)) == ("1.0x", "1.25x", "4.0x", "0.001x")


def test_gpu_report_hides_formats_that_do_not_fit_unless_asked() -> None:
    plan = plan_gpu(GpuInputs(gpu="RTX-4090"), load_catalog(), DEFAULT_PARAMS, DEFAULT_ASSUMPTIONS)
    short = shown_options(plan.options, show_all=False)
    # Qwen3-32B fits on a 4090 in no listed format at 8 x 4096 tokens: one row, its smallest format (INT4)
    qwen32 = [o for o in short if o.model == "Qwen3-32B"]
    assert [(o.quant, o.fit.fits) for o in qwen32] == [("INT4", False)]
    assert len(shown_options(plan.options, show_all=True)) == len(plan.options)
    report = gpu_report(plan, show_all=False)
    table = report.tables[0]
    assert len(table.rows) == len(short)
    assert {table.rows[n][0] for n in table.dim} >= {"Qwen3-32B", "DeepSeek-R1"}
    assert any("no confidential mode" in line for line in report.heading)


def test_catalog_report_lists_sources_on_request() -> None:
    catalog = load_catalog()
    assert gpus_report(catalog, sources=False).notes == ()
    notes = gpus_report(catalog, sources=True).notes
    assert len(notes) == len(catalog.gpus) and notes[0].startswith("H100-SXM-80GB: NVIDIA H100")

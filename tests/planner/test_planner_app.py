"""`plan app` arithmetic: the issue's worked example and the multipliers, all integers in nanoTON."""

from __future__ import annotations

import pytest

from cocoon.errors import PlannerError
from cocoon.payments import DEFAULT_PARAMS, NetworkParams
from cocoon.planner import DEFAULT_ASSUMPTIONS, AppInputs, AppPlan, load_catalog, plan_app
from cocoon.planner.app import stake_for_window


def _plan(params: NetworkParams = DEFAULT_PARAMS, **overrides: object) -> AppPlan:
    fields: dict[str, object] = {
        "model": "Qwen3-8B",
        "daily_queries": 1_000_000,
        "avg_input": 500,
        "avg_output": 300,
    }
    fields.update(overrides)
    return plan_app(AppInputs(**fields), load_catalog(), params, DEFAULT_ASSUMPTIONS)


def test_issue_worked_example() -> None:
    plan = _plan()
    # 1,000,000 x (500 + 300) = 8e8 adjusted tokens at 1.0x; x 20 nanoTON = 1.6e10 nanoTON = 16 TON/day
    assert plan.adjusted_per_day.total == 800_000_000
    assert plan.cost_per_day_nanoton == 16_000_000_000
    assert plan.cost_per_30_days_nanoton == 480_000_000_000  # 480 TON
    # 10 minutes at 1.0x: 1.6e10 x 600 / 86,400 = 111,111,111.1 -> rounded up to 111,111,112
    assert plan.stake_for_10_min_peak_nanoton == 111_111_112
    # below the network's 15 TON minimum client stake, so the minimum is recommended
    assert plan.recommended_stake_nanoton == 15_000_000_000
    assert isinstance(plan.cost_per_day_nanoton, int)


def test_peak_factor_scales_the_stake_not_the_cost() -> None:
    plan = _plan(peak_factor=3.0)
    assert plan.cost_per_day_nanoton == 16_000_000_000
    # 1.6e10 x 3 x 600 / 86,400 = 333,333,333.3 -> 333,333,334
    assert plan.stake_for_10_min_peak_nanoton == 333_333_334
    # peak: 1e6 x 3 / 86,400 = 34.722 req/s; decode 34.722 x 300 = 10,416.7 tok/s
    assert plan.peak_decode_tokens_per_s == pytest.approx(10_416.67, abs=0.01)


def test_big_traffic_stake_exceeds_the_minimum() -> None:
    # 100x the example: 1,600 TON/day; 10 min at 2x peak:
    # 1.6e12 x 2 x 600 / 86,400 = 22,222,222,222.2 -> 22,222,222,223 nanoTON
    plan = _plan(daily_queries=100_000_000, peak_factor=2.0)
    assert plan.stake_for_10_min_peak_nanoton == 22_222_222_223
    assert plan.recommended_stake_nanoton == 22_222_222_223


def test_price_and_coefficient_override() -> None:
    assert _plan(price_per_token=30).cost_per_day_nanoton == 24_000_000_000  # 8e8 x 30
    assert _plan(price_per_token=5).cost_per_day_nanoton == 4_000_000_000  # below the worker fee is allowed
    assert _plan(coefficient=1500).adjusted_per_day.total == 1_200_000_000  # 8e8 x 1.5


def test_cached_and_reasoning_shares_use_the_multipliers() -> None:
    # network multipliers at 1.0x: shares move tokens between classes, total unchanged
    same = _plan(cached_share=0.5, reasoning_share=0.25)
    assert same.usage_per_day.cached_tokens == 250_000_000
    assert same.usage_per_day.reasoning_tokens == 75_000_000
    assert same.adjusted_per_day.total == 800_000_000
    # cached at 0.1x (1000): 250M uncached + 25M cached + 300M completion = 575M -> 11.5 TON/day
    cheap = _plan(NetworkParams(cached_multiplier=1000), cached_share=0.5)
    assert (cheap.adjusted_per_day.prompt, cheap.adjusted_per_day.cached) == (250_000_000, 25_000_000)
    assert cheap.cost_per_day_nanoton == 11_500_000_000


def test_gpu_capacity_at_peak() -> None:
    plan = _plan(peak_factor=3.0)
    by_gpu = {o.gpu: o for o in plan.gpu_options}
    h100 = by_gpu["H100-SXM-80GB"]
    # 34.722 req/s x (500 / 22,458.8 + 300 / 3,588.3) s = 34.722 x 0.105868 = 3.676 -> 4 replicas of 1 GPU
    assert h100.peak_load == pytest.approx(3.676, abs=0.001)
    assert (h100.gpus_per_replica, h100.replicas, h100.total_gpus) == (1, 4, 4)
    assert by_gpu["L40S"].note  # no confidential mode is called out
    assert not by_gpu["H200-SXM-141GB"].note


def test_which_gpus_can_serve_deepseek() -> None:
    plan = _plan(model="DeepSeek-R1")
    by_gpu = {o.gpu: o for o in plan.gpu_options}
    assert plan.quant == "FP8"  # native format
    assert by_gpu["H100-SXM-80GB"].gpus_per_replica == 0  # 8 x 72 GB < 671 GB
    assert by_gpu["H200-SXM-141GB"].gpus_per_replica == 8
    assert by_gpu["B200-180GB"].gpus_per_replica == 8  # 4 x 162 GB = 648 GB < 671 GB
    int4 = {o.gpu: o for o in _plan(model="DeepSeek-R1", quant="INT4").gpu_options}
    assert int4["H100-SXM-80GB"].gpus_per_replica == 8  # 356.5 GB fits 8 x 72 GB


def test_stake_rounds_up_exactly() -> None:
    assert stake_for_window(86_400, 1.0) == 600
    assert stake_for_window(86_401, 1.0) == 601  # 600.0069 -> 601


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("daily_queries", 0, "daily queries must be greater than 0"),
        ("daily_queries", -5, "daily queries must be greater than 0"),
        ("avg_input", 0, "average input tokens must be greater than 0"),
        ("avg_output", -1, "average output tokens must be greater than 0"),
        ("cached_share", 1.5, "cached share must be within 0..1"),
        ("reasoning_share", -0.1, "reasoning share must be within 0..1"),
        ("peak_factor", 0.5, "peak factor must be at least 1"),
        ("price_per_token", 0, "price per token must be greater than 0"),
        ("coefficient", 0, "coefficient must be within 1.."),
    ],
)
def test_bad_inputs(field: str, value: object, message: str) -> None:
    with pytest.raises(PlannerError, match=message):
        _plan(**{field: value})

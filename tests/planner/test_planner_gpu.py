"""`plan gpu`: fit per model and format, confidential mode, and earnings in int nanoTON."""

from __future__ import annotations

import pytest

from cocoon.errors import CatalogLookupError, PlannerError
from cocoon.payments import DEFAULT_PARAMS
from cocoon.planner import DEFAULT_ASSUMPTIONS, GpuInputs, GpuPlan, ModelOption, load_catalog, plan_gpu


def _plan(**fields: object) -> GpuPlan:
    return plan_gpu(GpuInputs(**fields), load_catalog(), DEFAULT_PARAMS, DEFAULT_ASSUMPTIONS)


def _option(plan: GpuPlan, model: str, quant: str) -> ModelOption:
    return next(o for o in plan.options if o.model == model and o.quant == quant)


def test_earnings_for_qwen3_8b_on_h100_by_hand() -> None:
    plan = _plan(gpu="H100")
    option = _option(plan, "Qwen3-8B", "BF16")
    # defaults: context 4096 x concurrency 8, mix 500 in / 300 out, uptime 0.95, utilization 0.5.
    # decode at batch 8, avg context 650: 16,381,470,720 + 8 x 650 x 147,456 = 17,148,241,920 bytes per step
    #   / 2.345e12 B/s = 7.3127 ms -> 8 / step x 0.93 = 1,017.4 tok/s; prefill 22,458.8 tok/s
    # per request 500 / 22,458.8 + 300 / 1,017.4 = 0.31713 s; 86,400 x 0.95 x 0.5 / 0.31713 = 129,410 requests
    # 129,410 x 800 tokens = 103,528,000 adjusted tokens x 19 nanoTON = 1,967,032,000 nanoTON ~ 1.967 TON/day
    assert option.fit.fits
    assert option.decode_tokens_per_s == pytest.approx(1017.4, abs=0.1)
    assert option.requests_per_day is not None and abs(option.requests_per_day - 129_410) <= 2
    assert option.adjusted_tokens_per_day == option.requests_per_day * 800
    assert option.earnings_per_day_nanoton == option.requests_per_day * 800 * 19
    assert option.earnings_per_day_nanoton == pytest.approx(1_967_032_000, rel=2e-5)
    assert option.earnings_per_30_days_nanoton == option.earnings_per_day_nanoton * 30
    assert plan.confidential and "can join production" in plan.confidential_note


def test_uptime_and_coefficient_scale_earnings() -> None:
    full = _option(_plan(gpu="H100", uptime=1.0), "Qwen3-8B", "FP8")
    half = _option(_plan(gpu="H100", uptime=0.5), "Qwen3-8B", "FP8")
    double = _option(_plan(gpu="H100", uptime=1.0, coefficient=2000), "Qwen3-8B", "FP8")
    assert full.requests_per_day is not None and half.requests_per_day is not None
    assert abs(half.requests_per_day * 2 - full.requests_per_day) <= 2
    # 2.0x coefficient doubles adjusted tokens for the same requests
    assert double.adjusted_tokens_per_day == 2 * (full.adjusted_tokens_per_day or 0)


def test_consumer_card_fits_small_models_and_cannot_join_production() -> None:
    plan = _plan(gpu="RTX 4090")
    assert not plan.confidential and "confidential mode" in plan.confidential_note
    # Qwen3-8B BF16: 16.38 GB + 8 x 4,096 x 147,456 B = 4.83 GB = 21.21 GB <= 21.6 GB usable
    assert _option(plan, "Qwen3-8B", "BF16").fit.fits
    assert not _option(plan, "Qwen3-32B", "BF16").fit.fits  # 65.5 GB of weights
    assert _option(plan, "Qwen3-32B", "BF16").earnings_per_day_nanoton is None
    assert not _option(plan, "DeepSeek-R1", "INT4").fit.fits


def test_vram_override_and_more_gpus() -> None:
    # a 16 GB card cannot hold Qwen3-8B BF16 weights (16.38 GB > 14.4 GB usable)
    assert not _option(_plan(gpu="RTX 4090", vram_gb=16), "Qwen3-8B", "BF16").fit.fits
    # 8 x H200: 1,015.2 GB usable holds DeepSeek-R1 FP8 (671 GB)
    eight = _plan(gpu="H200", count=8)
    assert _option(eight, "DeepSeek-R1", "FP8").fit.fits
    assert not _option(_plan(gpu="H200", count=4), "DeepSeek-R1", "FP8").fit.fits


def test_every_model_and_format_is_listed() -> None:
    plan = _plan(gpu="B200")
    expected = sum(len(m.quantizations) for m in load_catalog().models)
    assert len(plan.options) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gpu": "H100", "uptime": 1.5}, r"uptime must be within \(0, 1\]"),
        ({"gpu": "H100", "uptime": 0.0}, r"uptime must be within \(0, 1\]"),
        ({"gpu": "H100", "uptime": -0.2}, r"uptime must be within \(0, 1\]"),
        ({"gpu": "H100", "utilization": 2.0}, r"utilization must be within \(0, 1\]"),
        ({"gpu": "H100", "count": 0}, "GPU count must be greater than 0"),
        ({"gpu": "H100", "vram_gb": -8.0}, r"VRAM \(GB\) must be greater than 0"),
    ],
)
def test_bad_inputs(fields: dict[str, object], message: str) -> None:
    with pytest.raises(PlannerError, match=message):
        _plan(**fields)


def test_unknown_gpu_suggests() -> None:
    with pytest.raises(CatalogLookupError, match="did you mean H200-SXM-141GB"):
        _plan(gpu="H20O")

"""Worker preflight: refuse what cannot fit with a message that says what to change."""

from __future__ import annotations

import pytest

from cocoon.errors import CatalogLookupError, PlannerError
from cocoon.planner import check_worker_fits


def test_fitting_model_returns_the_estimate() -> None:
    estimate = check_worker_fits("Qwen3-8B", gpu="H100")
    # 16.4 GB weights + 8 x 4,096 x 147,456 B = 4.8 GB KV within 72 GB usable
    assert estimate.fit.fits and estimate.vram_gb == 80
    assert estimate.throughput is not None and estimate.throughput.decode_tokens_per_s > 0
    line = estimate.summary()
    assert "Qwen3-8B BF16: 16.4 GB weights + 4.8 GB KV (8 x 4096 tokens) of 72.0 GB usable" in line
    assert "tok/s" in line and "\n" not in line


def test_model_identity_and_declared_vram_without_gpu_model() -> None:
    # the local network's model, declared as name@revision:sha256, on a 4 GB device: 0.27 GB + 0.79 GB KV
    estimate = check_worker_fits("SmolLM2-135M-Instruct@main:sha256-00ff", vram_gb=4)
    assert estimate.model == "SmolLM2-135M" and estimate.fit.fits and estimate.throughput is None
    assert "tok/s" not in estimate.summary()


def test_too_big_model_is_refused_with_the_alternatives() -> None:
    with pytest.raises(PlannerError) as info:
        check_worker_fits("Qwen3-32B", vram_gb=48)
    message = str(info.value)
    # BF16 65.5 GB > 43.2 GB usable; FP8 32.8 + 8.6 = 41.4 GB fits, INT4 (17.4 GB) and Q4_K_M (19.9 GB)
    # too, but Q8_0 at 8.5 bits does not: 34.8 + 8.6 = 43.4 GB
    assert message.startswith("model does not fit: Qwen3-32B in BF16 needs 65.5 GB of weights")
    assert "43.2 GB usable" in message and "use FP8 or INT4 or Q4_K_M," in message
    assert "\n" not in message


def test_too_much_concurrency_is_refused_with_the_limit() -> None:
    # 24 GB card: 21.6 - 16.38 = 5.22 GB free / (4,096 x 147,456 B = 0.604 GB) = 8.6 -> 8 sequences at most;
    # no format holds 64 sequences (64 x 0.604 = 38.7 GB of KV alone)
    with pytest.raises(PlannerError, match=r"room for only 8 of 64 sequences.*lower concurrency to 8"):
        check_worker_fits("Qwen3-8B", vram_gb=24, concurrency=64)


def test_context_above_the_model_limit() -> None:
    with pytest.raises(PlannerError, match="lower the context to at most 8192 tokens"):
        check_worker_fits("SmolLM2-135M", vram_gb=24, context=32768)


def test_missing_or_bad_declarations() -> None:
    with pytest.raises(PlannerError, match="needs the VRAM per GPU or a GPU model"):
        check_worker_fits("Qwen3-8B")
    with pytest.raises(PlannerError, match="vram_gb must be greater than 0"):
        check_worker_fits("Qwen3-8B", vram_gb=0)
    with pytest.raises(CatalogLookupError, match="did you mean Qwen3-8B"):
        check_worker_fits("Qwen3-8", vram_gb=80)
    with pytest.raises(CatalogLookupError, match="choose one of"):
        check_worker_fits("SmolLM2-135M", vram_gb=80, quant="INT4")

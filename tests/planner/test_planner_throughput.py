"""Speed estimates against hand arithmetic (efficiencies: bandwidth 70 %, compute 40 %, CC 0.93)."""

from __future__ import annotations

import pytest

from cocoon.planner import DEFAULT_ASSUMPTIONS, Assumptions, estimate_throughput, load_catalog
from cocoon.planner.throughput import replica_seconds_per_request


def test_single_stream_qwen3_8b_on_h100() -> None:
    catalog = load_catalog()
    qwen, bf16, h100 = catalog.model("Qwen3-8B"), catalog.quantization("BF16"), catalog.gpu("H100")
    t = estimate_throughput(qwen, bf16, h100, gpus=1, batch=1, avg_context=0, assumptions=DEFAULT_ASSUMPTIONS)
    # 16,381,470,720 bytes / (3,350e9 x 0.7 = 2.345e12 B/s) = 6.9857 ms -> 143.15 tok/s x 0.93 = 133.13
    assert t.decode_tokens_per_s == pytest.approx(133.13, abs=0.01)
    assert t.decode_bound == "memory"
    # prefill: 989e12 x 0.4 / (2 x 8,190,735,360) = 24,149.2 tok/s x 0.93 = 22,458.8
    assert t.prefill_tokens_per_s == pytest.approx(22_458.8, abs=0.1)


def test_batch_adds_kv_reads_and_moe_reads_active_params() -> None:
    catalog = load_catalog()
    qwen, bf16, h100 = catalog.model("Qwen3-8B"), catalog.quantization("BF16"), catalog.gpu("H100")
    t = estimate_throughput(
        qwen, bf16, h100, gpus=1, batch=32, avg_context=650, assumptions=DEFAULT_ASSUMPTIONS
    )
    # step bytes 16,381,470,720 + 32 x 650 x 147,456 = 19,448,555,520 -> 8.2936 ms -> 32 / step x 0.93
    assert t.decode_tokens_per_s == pytest.approx(3588.3, abs=0.1)
    ds, fp8, h200 = catalog.model("DeepSeek-R1"), catalog.quantization("FP8"), catalog.gpu("H200")
    moe = estimate_throughput(ds, fp8, h200, gpus=8, batch=1, avg_context=0, assumptions=DEFAULT_ASSUMPTIONS)
    # reads 37e9 active bytes (FP8), not 671e9: 37e9 / (8 x 4,800e9 x 0.7) = 1.3765 ms -> 726.5 x 0.93 = 675.6
    assert moe.decode_tokens_per_s == pytest.approx(675.6, abs=0.1)


def test_huge_batch_becomes_compute_bound_and_non_cc_gpu_has_no_penalty() -> None:
    catalog = load_catalog()
    smol, bf16, rtx = catalog.model("SmolLM2-135M"), catalog.quantization("BF16"), catalog.gpu("RTX-4090")
    t = estimate_throughput(
        smol, bf16, rtx, gpus=1, batch=4096, avg_context=1, assumptions=DEFAULT_ASSUMPTIONS
    )
    # compute: 165.2e12 x 0.4 / (2 x 134,515,008) = 245,624 tok/s, no CC factor on a GeForce card
    assert t.decode_bound == "compute"
    assert t.decode_tokens_per_s == pytest.approx(245_624, rel=1e-4)
    no_cc = Assumptions(confidential_throughput_factor=1.0)
    h100 = catalog.gpu("H100")
    with_cc = estimate_throughput(
        smol, bf16, h100, gpus=1, batch=1, avg_context=0, assumptions=DEFAULT_ASSUMPTIONS
    )
    without = estimate_throughput(smol, bf16, h100, gpus=1, batch=1, avg_context=0, assumptions=no_cc)
    assert with_cc.decode_tokens_per_s == pytest.approx(without.decode_tokens_per_s * 0.93)


def test_replica_time_per_request() -> None:
    catalog = load_catalog()
    qwen, bf16, h100 = catalog.model("Qwen3-8B"), catalog.quantization("BF16"), catalog.gpu("H100")
    t = estimate_throughput(
        qwen, bf16, h100, gpus=1, batch=32, avg_context=650, assumptions=DEFAULT_ASSUMPTIONS
    )
    # 500 / 22,458.8 + 300 / 3,588.3 = 0.022263 + 0.083605 = 0.105868 s
    assert replica_seconds_per_request(t, 500, 300) == pytest.approx(0.105868, abs=1e-5)

"""Memory fit, checked against hand arithmetic in the comments."""

from __future__ import annotations

from cocoon.planner import DEFAULT_ASSUMPTIONS, MemoryFit, load_catalog, memory_fit
from cocoon.planner.memory import smallest_fitting_node


def test_qwen3_8b_bf16_weights_and_kv() -> None:
    catalog = load_catalog()
    qwen = catalog.model("Qwen3-8B")
    # 8,190,735,360 params x 2 bytes = 16,381,470,720 bytes ~ 16.4 GB of weights.
    # KV per token: 36 layers x 2 x 8 KV heads x 128 x 2 bytes = 147,456 bytes;
    # 8 sequences x 8,192 tokens = 65,536 tokens -> 9,663,676,416 bytes; total 26,045,147,136.
    fit = memory_fit(
        qwen, catalog.quantization("BF16"), vram_gb=80, gpus=1, context=8192, concurrency=8,
        assumptions=DEFAULT_ASSUMPTIONS,
    )  # fmt: skip
    assert fit.weights_bytes == 16_381_470_720
    assert round(fit.weights_bytes / 1e9, 1) == 16.4
    assert fit.kv_bytes_per_token == 147_456
    assert fit.kv_bytes == 9_663_676_416
    assert fit.required_bytes == 26_045_147_136
    # usable: 80 GB x 0.9 = 72 GB -> fits; free 55,618,529,280 / (147,456 x 8,192) = 46.04 -> 46 sequences
    assert fit.usable_bytes == 72_000_000_000
    assert fit.fits and fit.reason == ""
    assert fit.max_concurrency == 46


def test_rtx_4090_needs_fp8_for_qwen3_8b_at_that_load() -> None:
    catalog = load_catalog()
    qwen = catalog.model("Qwen3-8B")

    def on_4090(quant: str) -> MemoryFit:
        return memory_fit(
            qwen, catalog.quantization(quant), vram_gb=24, gpus=1, context=8192, concurrency=8,
            assumptions=DEFAULT_ASSUMPTIONS,
        )  # fmt: skip

    # BF16: 26.05 GB > 24 x 0.9 = 21.6 GB; free (21.6e9 - 16.38e9) / 1.208e9 per sequence = 4.3 -> 4 fit.
    # FP8: 8.19 + 9.66 = 17.85 GB fits.
    bf16, fp8 = on_4090("BF16"), on_4090("FP8")
    assert not bf16.fits and "room for only 4 of 8 sequences" in bf16.reason
    assert fp8.fits and fp8.weights_bytes == 8_190_735_360


def test_weights_alone_too_big_and_context_too_long() -> None:
    catalog = load_catalog()
    big = memory_fit(
        catalog.model("Llama-3.1-70B"), catalog.quantization("BF16"), vram_gb=80, gpus=1, context=4096,
        concurrency=1, assumptions=DEFAULT_ASSUMPTIONS,
    )  # fmt: skip
    # 70,553,706,496 x 2 = 141.1 GB > 72 GB usable
    assert (
        not big.fits and big.reason == "weights 141.1 GB exceed 72.0 GB usable" and big.max_concurrency == 0
    )
    smol = memory_fit(
        catalog.model("SmolLM2-135M"), catalog.quantization("BF16"), vram_gb=80, gpus=1, context=16384,
        concurrency=1, assumptions=DEFAULT_ASSUMPTIONS,
    )  # fmt: skip
    assert not smol.fits and "exceeds the model's 8192" in smol.reason


def test_deepseek_needs_a_full_node_of_h200() -> None:
    catalog = load_catalog()
    ds = catalog.model("DeepSeek-R1")
    fp8 = catalog.quantization("FP8")
    # MLA KV: 61 layers x 576 x 2 bytes = 70,272 bytes per token (vs ~4.5 MB for plain MHA).
    # FP8 weights 671 GB: 4 x 141 x 0.9 = 507.6 GB too small, 8 x 141 x 0.9 = 1,015.2 GB fits.
    h200 = smallest_fitting_node(
        ds, fp8, vram_gb=141, context=8192, concurrency=32, assumptions=DEFAULT_ASSUMPTIONS
    )
    assert h200 is not None and h200.gpus == 8 and h200.kv_bytes_per_token == 70_272
    # 8 x 80 x 0.9 = 576 GB < 671 GB: no single H100 node holds it in FP8.
    assert (
        smallest_fitting_node(
            ds, fp8, vram_gb=80, context=8192, concurrency=32, assumptions=DEFAULT_ASSUMPTIONS
        )
        is None
    )

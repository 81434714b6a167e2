"""The packaged catalogs hold the models and GPUs the issue names, with datasheet figures and sources."""

from __future__ import annotations

import pytest

from cocoon.errors import CatalogLookupError, PlannerError
from cocoon.planner import load_catalog

REQUIRED_MODELS = [
    "Qwen3-0.6B", "Qwen3-8B", "Qwen3-32B", "Qwen3-235B-A22B", "DeepSeek-V3", "DeepSeek-R1",
    "Llama-3.1-8B", "Llama-3.1-70B", "Gemma-3-27B", "SmolLM2-135M",
]  # fmt: skip
REQUIRED_GPUS = [
    "H100-SXM-80GB", "H200-SXM-141GB", "B200-180GB", "A100-SXM-40GB", "A100-SXM-80GB", "L40S",
    "RTX-4090", "RTX-5090",
]  # fmt: skip


def test_required_entries_are_present_with_sources() -> None:
    catalog = load_catalog()
    assert [m.name for m in catalog.models if m.name in REQUIRED_MODELS] == REQUIRED_MODELS
    assert set(REQUIRED_GPUS) <= {g.name for g in catalog.gpus}
    for entry in (*catalog.models, *catalog.gpus):
        assert entry.sources, f"{entry.name} has no sources"


def test_every_model_is_consistent() -> None:
    catalog = load_catalog()
    for m in catalog.models:
        assert 0 < m.active_params <= m.total_params
        assert m.native_quant in m.quantizations
        for q in m.quantizations:
            catalog.quantization(q, m)  # every listed format is defined
        assert m.layers > 0 and m.kv_heads > 0 and m.head_dim > 0 and m.max_context >= 8192


@pytest.mark.parametrize(
    ("name", "vram", "bandwidth", "tflops", "confidential"),
    [
        ("H100-SXM-80GB", 80, 3350, 989, True),  # H100 SXM datasheet: 3.35 TB/s, 1,979 sparse / 2
        ("H200-SXM-141GB", 141, 4800, 989, True),
        ("B200-180GB", 180, 8000, 2250, True),
        ("A100-SXM-80GB", 80, 2039, 312, False),  # Ampere: no CC mode
        ("A100-SXM-40GB", 40, 1555, 312, False),
        ("L40S", 48, 864, 362.05, False),  # Ada: no CC mode (double-checked: not in NVIDIA's CC list)
        ("RTX-4090", 24, 1008, 165.2, False),
        ("RTX-5090", 32, 1792, 209.5, False),
    ],
)
def test_gpu_datasheet_figures(
    name: str, vram: float, bandwidth: float, tflops: float, confidential: bool
) -> None:
    g = load_catalog().gpu(name)
    assert (g.vram_gb, g.bandwidth_gbps, g.bf16_tflops, g.confidential) == (
        vram,
        bandwidth,
        tflops,
        confidential,
    )


def test_model_architecture_figures() -> None:
    catalog = load_catalog()
    qwen = catalog.model("Qwen3-8B")
    assert (qwen.layers, qwen.kv_heads, qwen.head_dim, qwen.total_params) == (36, 8, 128, 8_190_735_360)
    ds = catalog.model("DeepSeek-R1")
    # MoE: 671B held, 37B read per token; MLA caches a 576-element latent per token per layer
    assert ds.is_moe and not qwen.is_moe
    assert ds.kv_elements_per_token == 61 * 576
    # GQA: 36 layers x 2 (K and V) x 8 heads x 128 = 73,728 elements per token
    assert qwen.kv_elements_per_token == 73_728


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Qwen3-8B", "Qwen3-8B"),
        ("qwen/qwen3-8b", "Qwen3-8B"),
        ("qwen3:8b", "Qwen3-8B"),
        ("Qwen3-8B@main:sha256-0123abcd", "Qwen3-8B"),
        ("meta-llama/Llama-3.1-70B-Instruct", "Llama-3.1-70B"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M"),
        ("deepseek-ai/DeepSeek-R1-0528", "DeepSeek-R1"),
    ],
)
def test_model_lookup_is_loose(query: str, expected: str) -> None:
    assert load_catalog().model(query).name == expected


def test_gpu_lookup_by_alias() -> None:
    catalog = load_catalog()
    assert catalog.gpu("h100").name == "H100-SXM-80GB"
    assert catalog.gpu("RTX 4090").name == "RTX-4090"
    assert catalog.gpu("a100 40gb").name == "A100-SXM-40GB"


def test_unknown_names_suggest_the_closest() -> None:
    catalog = load_catalog()
    with pytest.raises(CatalogLookupError, match=r"unknown model 'qwen-8b'; did you mean Qwen3-8B"):
        catalog.model("qwen-8b")
    with pytest.raises(CatalogLookupError, match=r"unknown GPU 'rtx4080'; did you mean RTX-4090"):
        catalog.gpu("rtx4080")
    with pytest.raises(PlannerError, match="cocoon plan models"):
        catalog.model("zzzz")


def test_unknown_quantization_lists_the_choices() -> None:
    catalog = load_catalog()
    smol = catalog.model("SmolLM2-135M")
    with pytest.raises(CatalogLookupError, match="choose one of BF16, Q8_0, Q4_K_M"):
        catalog.quantization("INT4", smol)
    assert catalog.quantization("fp8").name == "FP8"

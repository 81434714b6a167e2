"""Does a model fit? Weights plus KV cache against usable VRAM (assumptions in ``assumptions.py``).

Worked example (tests/planner/test_planner_memory.py): Qwen3-8B in BF16 holds 8,190,735,360 x 2 bytes
= 16.38 GB of weights; its KV cache takes 36 layers x 2 x 8 heads x 128 x 2 bytes = 147,456 bytes per
token, so 8 sequences of 8,192 tokens need another 9.66 GB.
"""

from __future__ import annotations

import msgspec

from cocoon.planner.assumptions import Assumptions
from cocoon.planner.catalog import GB, ModelSpec, Quantization

TENSOR_PARALLEL_SIZES = (1, 2, 4, 8, 16)


class MemoryFit(msgspec.Struct, frozen=True, kw_only=True):
    """The memory verdict for one model, quantization and GPU set."""

    model: str
    quant: str
    gpus: int
    context: int
    concurrency: int
    weights_bytes: int
    kv_bytes_per_token: int
    kv_bytes: int
    required_bytes: int
    usable_bytes: int
    max_concurrency: (
        int  # sequences of `context` tokens that fit next to the weights (0: weights alone do not)
    )
    fits: bool
    reason: str  # why it does not fit; empty when it does


def kv_bytes_per_token(model: ModelSpec, assumptions: Assumptions) -> int:
    """KV cache bytes one token occupies over all layers."""
    return model.kv_elements_per_token * assumptions.kv_bytes_per_element


def usable_bytes(vram_gb: float, gpus: int, assumptions: Assumptions) -> int:
    """Bytes available for weights and KV cache on ``gpus`` GPUs of ``vram_gb`` each."""
    return int(vram_gb * GB * gpus * assumptions.usable_vram_fraction)


def memory_fit(
    model: ModelSpec,
    quant: Quantization,
    *,
    vram_gb: float,
    gpus: int,
    context: int,
    concurrency: int,
    assumptions: Assumptions,
) -> MemoryFit:
    """Check that weights plus ``concurrency`` sequences of ``context`` tokens fit in usable VRAM."""
    weights = quant.weight_bytes(model.total_params)
    per_token = kv_bytes_per_token(model, assumptions)
    kv = per_token * context * concurrency
    usable = usable_bytes(vram_gb, gpus, assumptions)
    free = usable - weights
    max_concurrency = max(0, free // (per_token * context)) if context > 0 else 0
    reason = ""
    if context > model.max_context:
        reason = f"context {context} exceeds the model's {model.max_context}"
    elif weights > usable:
        reason = f"weights {weights / GB:.1f} GB exceed {usable / GB:.1f} GB usable"
    elif weights + kv > usable:
        reason = (
            f"KV cache for {concurrency} x {context} tokens needs {kv / GB:.1f} GB: "
            f"room for only {max_concurrency} of {concurrency} sequences"
        )
    return MemoryFit(
        model=model.name,
        quant=quant.name,
        gpus=gpus,
        context=context,
        concurrency=concurrency,
        weights_bytes=weights,
        kv_bytes_per_token=per_token,
        kv_bytes=kv,
        required_bytes=weights + kv,
        usable_bytes=usable,
        max_concurrency=max_concurrency,
        fits=not reason,
        reason=reason,
    )


def smallest_fitting_node(
    model: ModelSpec,
    quant: Quantization,
    *,
    vram_gb: float,
    context: int,
    concurrency: int,
    assumptions: Assumptions,
) -> MemoryFit | None:
    """The fit on the fewest GPUs (1, 2, 4, 8 ... up to one node) that holds the model; None if none does."""
    for gpus in TENSOR_PARALLEL_SIZES:
        if gpus > assumptions.max_gpus_per_node:
            break
        fit = memory_fit(
            model,
            quant,
            vram_gb=vram_gb,
            gpus=gpus,
            context=context,
            concurrency=concurrency,
            assumptions=assumptions,
        )
        if fit.fits:
            return fit
    return None

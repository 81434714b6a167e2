"""How fast a model runs: decode bound by memory bandwidth, prefill by compute (see ``assumptions.py``).

Worked example (tests/planner/test_planner_throughput.py): Qwen3-8B BF16 on one H100 SXM, one stream,
short context: each step reads 16.38 GB at 3.35 TB/s x 70 % = 2.345 TB/s -> 6.99 ms -> 143 tokens/s,
x 0.93 in confidential mode -> 133 tokens/s.
"""

from __future__ import annotations

import msgspec

from cocoon.planner.assumptions import Assumptions
from cocoon.planner.catalog import GB, GpuSpec, ModelSpec, Quantization
from cocoon.planner.memory import kv_bytes_per_token

TFLOPS = 10**12


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    """Estimated speeds of one replica (a model on ``gpus`` GPUs), in tokens per second."""

    gpus: int
    batch: int
    avg_context: int
    decode_tokens_per_s: float  # all sequences of the batch together
    per_stream_tokens_per_s: float  # what one user sees while the batch is full
    prefill_tokens_per_s: float
    decode_bound: str  # "memory" or "compute"


def estimate_throughput(
    model: ModelSpec,
    quant: Quantization,
    gpu: GpuSpec,
    *,
    gpus: int,
    batch: int,
    avg_context: int,
    assumptions: Assumptions,
) -> Throughput:
    """Decode and prefill speed of ``model`` on ``gpus`` x ``gpu`` with ``batch`` sequences in flight."""
    bandwidth = gpus * gpu.bandwidth_gbps * GB * assumptions.bandwidth_efficiency  # bytes/s
    flops = gpus * gpu.bf16_tflops * TFLOPS * assumptions.compute_efficiency  # FLOP/s
    cc = assumptions.confidential_throughput_factor if gpu.confidential else 1.0
    # One decode step reads the active weights once for the whole batch, plus every sequence's KV cache.
    step_bytes = quant.weight_bytes(model.active_params) + batch * avg_context * kv_bytes_per_token(
        model, assumptions
    )
    memory_time = step_bytes / bandwidth
    compute_time = batch * 2 * model.active_params / flops
    step = max(memory_time, compute_time)
    decode = batch / step * cc
    return Throughput(
        gpus=gpus,
        batch=batch,
        avg_context=avg_context,
        decode_tokens_per_s=decode,
        per_stream_tokens_per_s=decode / batch,
        prefill_tokens_per_s=flops / (2 * model.active_params) * cc,
        decode_bound="memory" if memory_time >= compute_time else "compute",
    )


def replica_seconds_per_request(throughput: Throughput, uncached_input: float, output: float) -> float:
    """Replica time one request occupies: its prefill share plus its share of batched decode steps."""
    return uncached_input / throughput.prefill_tokens_per_s + output / throughput.decode_tokens_per_s

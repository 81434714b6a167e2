"""The modelling assumptions behind every planner estimate, in one place so the output can state them.

Sources of the default figures:
- usable VRAM 90 %: vLLM's default ``gpu_memory_utilization``; the rest holds activations and the CUDA
  context. Catalog VRAM is the marketed GB (10^9 bytes), slightly below the real capacity.
- bandwidth efficiency 70 % and compute efficiency 40 %: what serving engines typically reach on
  decode (memory-bound) and prefill (compute-bound) kernels; single-stream Qwen3-8B BF16 on an H100 SXM
  then decodes at ~140 tokens/s, in line with published engine benchmarks.
- confidential-computing throughput factor 0.93: H100 CC mode costs 4-8 % throughput for typical
  inference (Chrapek et al., arXiv 2509.18886; Phala/io.net arXiv 2409.03992 "below 7 %").
- KV cache held in 16-bit (2 bytes per element); FP8 KV cache would halve it.
"""

from __future__ import annotations

import msgspec

from cocoon.errors import PlannerError


class Assumptions(msgspec.Struct, frozen=True, kw_only=True):
    """Efficiency factors and memory rules used by the planner; every estimate depends on these."""

    usable_vram_fraction: float = 0.90
    bandwidth_efficiency: float = 0.70
    compute_efficiency: float = 0.40
    confidential_throughput_factor: float = 0.93
    kv_bytes_per_element: int = 2
    max_gpus_per_node: int = 8

    def __post_init__(self) -> None:
        for name in (
            "usable_vram_fraction",
            "bandwidth_efficiency",
            "compute_efficiency",
            "confidential_throughput_factor",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise PlannerError(f"assumption {name} must be in (0, 1], got {value}")

    def describe(self) -> tuple[str, ...]:
        """One line per assumption, for the table footer and the JSON output."""
        vram, bw, mfu = self.usable_vram_fraction, self.bandwidth_efficiency, self.compute_efficiency
        cc = self.confidential_throughput_factor
        return (
            "weights = parameters x bits per weight / 8; sizes in GB = 10^9 bytes",
            "KV cache per token = layers x (2 x kv_heads x head_dim, or the MLA latent size) x "
            f"{self.kv_bytes_per_element} bytes",
            f"usable VRAM = {vram:.0%} of each GPU; tensor parallel over the node's GPUs "
            f"(at most {self.max_gpus_per_node})",
            "decode is memory-bound: each step reads the active parameters (MoE: routed experts in use) "
            f"plus the batch's KV cache at {bw:.0%} of peak bandwidth",
            f"prefill is compute-bound: 2 x active parameters FLOPs per token at {mfu:.0%} "
            "of dense BF16 throughput (quantized weights assumed computed at the BF16 rate)",
            f"confidential mode keeps {cc:.0%} of throughput (H100 CC: 4-8 % penalty, arXiv 2509.18886)",
            "cached prompt tokens skip prefill compute; attention FLOPs and scheduling gaps are ignored",
        )


DEFAULT_ASSUMPTIONS = Assumptions()

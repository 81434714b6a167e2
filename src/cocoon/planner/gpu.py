"""`cocoon plan gpu`: which models a GPU box can serve, how fast, and what it may earn in TON.

Earnings: a replica spends ``input/prefill + output/decode`` seconds per request of the stated mix; the
requests it can serve per second, times 86,400 x uptime x utilization, give the day's requests; their
adjusted tokens (the metering formula of ``cocoon.payments.pricing``) times the worker fee give nanoTON.
"""

from __future__ import annotations

import msgspec

from cocoon.payments.params import NetworkParams
from cocoon.payments.pricing import adjusted_tokens, worker_earnings
from cocoon.planner.assumptions import Assumptions
from cocoon.planner.catalog import Catalog, GpuSpec, ModelSpec, Quantization
from cocoon.planner.inputs import GpuInputs
from cocoon.planner.memory import MemoryFit, memory_fit
from cocoon.planner.throughput import estimate_throughput, replica_seconds_per_request
from cocoon.usage import Usage

SECONDS_PER_DAY = 86_400
CONFIDENTIAL_REQUIRED = "the network's production policy admits only workers in confidential mode"


class ModelOption(msgspec.Struct, frozen=True, kw_only=True):
    """One catalog model in one quantization on the GPU box; speed and earnings only when it fits."""

    model: str
    quant: str
    fit: MemoryFit
    decode_tokens_per_s: float | None
    per_stream_tokens_per_s: float | None
    prefill_tokens_per_s: float | None
    requests_per_day: int | None
    adjusted_tokens_per_day: int | None
    earnings_per_day_nanoton: int | None
    earnings_per_30_days_nanoton: int | None


class GpuPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `cocoon plan gpu` answers; money in int nanoTON."""

    inputs: GpuInputs
    gpu: str
    architecture: str
    count: int
    vram_gb: float
    confidential: bool
    confidential_note: str
    worker_fee_per_token: int
    options: tuple[ModelOption, ...]
    assumptions: tuple[str, ...]


def plan_gpu(inputs: GpuInputs, catalog: Catalog, params: NetworkParams, assumptions: Assumptions) -> GpuPlan:
    """Fit, speed and earnings of every catalog model at every listed quantization on the GPU box."""
    gpu = catalog.gpu(inputs.gpu)
    vram = inputs.vram_gb if inputs.vram_gb is not None else gpu.vram_gb
    options = tuple(
        _option(model, catalog.quantization(q, model), gpu, vram, inputs, params, assumptions)
        for model in catalog.models
        for q in model.quantizations
    )
    note = (
        "confidential mode available (Hopper/Blackwell CC): can join production"
        if gpu.confidential
        else f"no confidential mode: {CONFIDENTIAL_REQUIRED}; usable for local/test networks only"
    )
    return GpuPlan(
        inputs=inputs,
        gpu=gpu.name,
        architecture=gpu.architecture,
        count=inputs.count,
        vram_gb=vram,
        confidential=gpu.confidential,
        confidential_note=note,
        worker_fee_per_token=params.worker_fee_per_token,
        options=options,
        assumptions=assumptions.describe(),
    )


def _option(
    model: ModelSpec,
    quant: Quantization,
    gpu: GpuSpec,
    vram: float,
    inputs: GpuInputs,
    params: NetworkParams,
    assumptions: Assumptions,
) -> ModelOption:
    fit = memory_fit(
        model,
        quant,
        vram_gb=vram,
        gpus=inputs.count,
        context=inputs.context,
        concurrency=inputs.concurrency,
        assumptions=assumptions,
    )
    if not fit.fits:
        return ModelOption(
            model=model.name,
            quant=quant.name,
            fit=fit,
            decode_tokens_per_s=None,
            per_stream_tokens_per_s=None,
            prefill_tokens_per_s=None,
            requests_per_day=None,
            adjusted_tokens_per_day=None,
            earnings_per_day_nanoton=None,
            earnings_per_30_days_nanoton=None,
        )
    speed = estimate_throughput(
        model,
        quant,
        gpu,
        gpus=inputs.count,
        batch=inputs.concurrency,
        avg_context=inputs.avg_input + inputs.avg_output // 2,
        assumptions=assumptions,
    )
    per_request = replica_seconds_per_request(speed, inputs.avg_input, inputs.avg_output)
    requests = int(SECONDS_PER_DAY * inputs.uptime * inputs.utilization / per_request)
    usage = Usage(prompt_tokens=requests * inputs.avg_input, completion_tokens=requests * inputs.avg_output)
    tokens = adjusted_tokens(usage, inputs.coefficient, params).total
    earned = worker_earnings(tokens, params)
    return ModelOption(
        model=model.name,
        quant=quant.name,
        fit=fit,
        decode_tokens_per_s=speed.decode_tokens_per_s,
        per_stream_tokens_per_s=speed.per_stream_tokens_per_s,
        prefill_tokens_per_s=speed.prefill_tokens_per_s,
        requests_per_day=requests,
        adjusted_tokens_per_day=tokens,
        earnings_per_day_nanoton=earned,
        earnings_per_30_days_nanoton=earned * 30,
    )

"""`cocoon plan app`: what an app's traffic costs in TON, how much to stake, and what GPUs it needs.

Worked example (tests/planner/test_planner_app.py): 1,000,000 queries/day x (500 in + 300 out) =
8e8 adjusted tokens at 1.0x; at 20 nanoTON each that is 1.6e10 nanoTON = 16 TON/day, 480 TON per 30
days; ten minutes of that rate is 1.6e10 x 600 / 86,400 = 111,111,111.1 -> 111,111,112 nanoTON.
"""

from __future__ import annotations

import math
from fractions import Fraction

import msgspec

from cocoon.payments.params import NetworkParams
from cocoon.payments.pricing import AdjustedTokens, adjusted_tokens, client_cost
from cocoon.planner.assumptions import Assumptions
from cocoon.planner.catalog import Catalog, GpuSpec, ModelSpec, Quantization
from cocoon.planner.inputs import AppInputs
from cocoon.planner.memory import smallest_fitting_node
from cocoon.planner.throughput import estimate_throughput, replica_seconds_per_request
from cocoon.usage import Usage

SECONDS_PER_DAY = 86_400
STAKE_WINDOW_SECONDS = 600  # spec/economics.md: a stake should cover about 10 minutes of usage


class GpuOption(msgspec.Struct, frozen=True, kw_only=True):
    """How one catalog GPU would carry the traffic at peak (``gpus_per_replica`` 0 = cannot serve)."""

    gpu: str
    confidential: bool
    gpus_per_replica: int
    replicas: int
    total_gpus: int
    replica_decode_tokens_per_s: float
    replica_prefill_tokens_per_s: float
    peak_load: float  # replica-seconds of work per second at peak
    note: str


class DailyUsage(msgspec.Struct, frozen=True, kw_only=True):
    """A day's token counts as the plan reports them: an object with named fields (`Usage`, which
    meters them, is a wire array)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> DailyUsage:
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )


class AppPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `cocoon plan app` answers; money in int nanoTON."""

    inputs: AppInputs
    model: str
    quant: str
    usage_per_day: DailyUsage
    adjusted_per_day: AdjustedTokens
    price_per_token: int
    cost_per_day_nanoton: int
    cost_per_30_days_nanoton: int
    stake_for_10_min_peak_nanoton: int
    min_client_stake_nanoton: int
    recommended_stake_nanoton: int
    peak_requests_per_s: float
    peak_prefill_tokens_per_s: float
    peak_decode_tokens_per_s: float
    gpu_options: tuple[GpuOption, ...]
    assumptions: tuple[str, ...]


def daily_usage(inputs: AppInputs) -> Usage:
    """The day's engine-reported token counts (cached within prompt, reasoning within completion)."""
    prompt = inputs.daily_queries * inputs.avg_input
    completion = inputs.daily_queries * inputs.avg_output
    return Usage(
        prompt_tokens=prompt,
        cached_tokens=round(prompt * inputs.cached_share),
        completion_tokens=completion,
        reasoning_tokens=round(completion * inputs.reasoning_share),
    )


def stake_for_window(cost_per_day: int, peak_factor: float, seconds: int = STAKE_WINDOW_SECONDS) -> int:
    """nanoTON that covers ``seconds`` of usage at the peak rate, rounded up (exact rationals)."""
    return math.ceil(Fraction(cost_per_day) * Fraction(peak_factor) * seconds / SECONDS_PER_DAY)


def plan_app(inputs: AppInputs, catalog: Catalog, params: NetworkParams, assumptions: Assumptions) -> AppPlan:
    """Cost, stake and GPU capacity for an app's traffic; raises PlannerError on unknown names."""
    model = catalog.model(inputs.model)
    quant = catalog.quantization(inputs.quant or model.native_quant, model)
    if inputs.price_per_token is not None:
        price = inputs.price_per_token
        params = msgspec.structs.replace(
            params, price_per_token=price, worker_fee_per_token=min(params.worker_fee_per_token, price)
        )
    usage = daily_usage(inputs)
    adjusted = adjusted_tokens(usage, inputs.coefficient, params)
    per_day = client_cost(adjusted.total, params)
    stake = stake_for_window(per_day, inputs.peak_factor)
    peak_rps = inputs.daily_queries * inputs.peak_factor / SECONDS_PER_DAY
    uncached_input = inputs.avg_input * (1 - inputs.cached_share)
    options = tuple(
        _gpu_option(model, quant, gpu, inputs, peak_rps, uncached_input, assumptions) for gpu in catalog.gpus
    )
    return AppPlan(
        inputs=inputs,
        model=model.name,
        quant=quant.name,
        usage_per_day=DailyUsage.of(usage),
        adjusted_per_day=adjusted,
        price_per_token=params.price_per_token,
        cost_per_day_nanoton=per_day,
        cost_per_30_days_nanoton=per_day * 30,
        stake_for_10_min_peak_nanoton=stake,
        min_client_stake_nanoton=params.min_client_stake,
        recommended_stake_nanoton=max(stake, params.min_client_stake),
        peak_requests_per_s=peak_rps,
        peak_prefill_tokens_per_s=peak_rps * uncached_input,
        peak_decode_tokens_per_s=peak_rps * inputs.avg_output,
        gpu_options=options,
        assumptions=assumptions.describe(),
    )


def _gpu_option(
    model: ModelSpec,
    quant: Quantization,
    gpu: GpuSpec,
    inputs: AppInputs,
    peak_rps: float,
    uncached_input: float,
    assumptions: Assumptions,
) -> GpuOption:
    context = inputs.avg_input + inputs.avg_output
    fit = smallest_fitting_node(
        model,
        quant,
        vram_gb=gpu.vram_gb,
        context=context,
        concurrency=inputs.concurrency,
        assumptions=assumptions,
    )
    if fit is None:
        why = f"does not fit on {assumptions.max_gpus_per_node} GPUs in {quant.name}; try another --quant"
        return GpuOption(
            gpu=gpu.name,
            confidential=gpu.confidential,
            gpus_per_replica=0,
            replicas=0,
            total_gpus=0,
            replica_decode_tokens_per_s=0.0,
            replica_prefill_tokens_per_s=0.0,
            peak_load=0.0,
            note=why,
        )
    speed = estimate_throughput(
        model,
        quant,
        gpu,
        gpus=fit.gpus,
        batch=inputs.concurrency,
        avg_context=inputs.avg_input + inputs.avg_output // 2,
        assumptions=assumptions,
    )
    load = peak_rps * replica_seconds_per_request(speed, uncached_input, inputs.avg_output)
    replicas = max(1, math.ceil(load))
    return GpuOption(
        gpu=gpu.name,
        confidential=gpu.confidential,
        gpus_per_replica=fit.gpus,
        replicas=replicas,
        total_gpus=replicas * fit.gpus,
        replica_decode_tokens_per_s=speed.decode_tokens_per_s,
        replica_prefill_tokens_per_s=speed.prefill_tokens_per_s,
        peak_load=load,
        note="" if gpu.confidential else "no CC mode: test networks only",
    )

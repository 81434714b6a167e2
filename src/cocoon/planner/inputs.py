"""The questions the network's onboarding asks, as validated frozen structs.

App developers give a model, daily query volume and average input/output tokens; GPU owners give a GPU
model, count, VRAM and expected uptime. Out-of-range values raise :class:`~cocoon.errors.PlannerError`
with a message naming the field and the accepted range.
"""

from __future__ import annotations

import msgspec

from cocoon.errors import PlannerError
from cocoon.payments.params import COEFFICIENT_ONE, MAX_COEFFICIENT

# A worker declares its max concurrency to the proxy; the KV cache must hold that many full contexts.
DEFAULT_CONTEXT = 4096
DEFAULT_CONCURRENCY = 8
DEFAULT_APP_CONCURRENCY = 32  # sequences decoded together per replica when sizing an app's fleet


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise PlannerError(f"{name} must be greater than 0, got {value}")


def _share(name: str, value: float, *, allow_zero: bool = True) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        bounds = "0..1" if allow_zero else "(0, 1]"
        raise PlannerError(f"{name} must be within {bounds}, got {value}")


def _coefficient(value: int) -> None:
    if not 0 < value <= MAX_COEFFICIENT:
        raise PlannerError(f"coefficient must be within 1..{MAX_COEFFICIENT} (1000 = 1.0x), got {value}")


class AppInputs(msgspec.Struct, frozen=True, kw_only=True):
    """An app developer's traffic: model, volume, average sizes and how the load is shaped."""

    model: str
    daily_queries: int
    avg_input: int
    avg_output: int
    cached_share: float = 0.0  # share of input tokens served from the prompt cache
    reasoning_share: float = 0.0  # share of output tokens that are reasoning tokens
    peak_factor: float = 1.0  # peak rate / average rate
    price_per_token: int | None = None  # nanoTON per adjusted token; None = the network's price
    coefficient: int = COEFFICIENT_ONE  # the worker price coefficient the app expects to pay
    quant: str | None = None  # None = the model's native format
    concurrency: int = DEFAULT_APP_CONCURRENCY  # sequences decoded together per replica

    def __post_init__(self) -> None:
        _positive("daily queries", self.daily_queries)
        _positive("average input tokens", self.avg_input)
        _positive("average output tokens", self.avg_output)
        _share("cached share", self.cached_share)
        _share("reasoning share", self.reasoning_share)
        if not self.peak_factor >= 1:
            raise PlannerError(
                f"peak factor must be at least 1 (peak / average rate), got {self.peak_factor}"
            )
        if self.price_per_token is not None:
            _positive("price per token", self.price_per_token)
        _coefficient(self.coefficient)
        _positive("concurrency", self.concurrency)


class GpuInputs(msgspec.Struct, frozen=True, kw_only=True):
    """A GPU owner's machine and how it will be run."""

    gpu: str
    count: int = 1
    vram_gb: float | None = None  # per GPU; None = the catalog's figure
    uptime: float = 0.95  # share of the day the worker is online
    utilization: float = 0.5  # share of online time spent serving paid requests
    context: int = DEFAULT_CONTEXT  # tokens per sequence the KV cache must hold
    concurrency: int = DEFAULT_CONCURRENCY  # the worker's declared max concurrency
    avg_input: int = 500  # request mix used to turn speed into billed tokens
    avg_output: int = 300
    coefficient: int = COEFFICIENT_ONE

    def __post_init__(self) -> None:
        _positive("GPU count", self.count)
        if self.vram_gb is not None:
            _positive("VRAM (GB)", self.vram_gb)
        _share("uptime", self.uptime, allow_zero=False)
        _share("utilization", self.utilization, allow_zero=False)
        _positive("context", self.context)
        _positive("concurrency", self.concurrency)
        _positive("average input tokens", self.avg_input)
        _positive("average output tokens", self.avg_output)
        _coefficient(self.coefficient)

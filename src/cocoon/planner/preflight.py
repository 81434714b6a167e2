"""Worker preflight: refuse a model that cannot fit the declared VRAM, and estimate what it will do.

``cocoon worker run`` calls :func:`check_worker_fits` before starting its engine and prints
:meth:`WorkerEstimate.summary`. The check is the same arithmetic as `cocoon plan gpu`.
"""

from __future__ import annotations

import msgspec

from cocoon.errors import PlannerError
from cocoon.planner.assumptions import DEFAULT_ASSUMPTIONS, Assumptions
from cocoon.planner.catalog import GB, Catalog, ModelSpec, load_catalog
from cocoon.planner.inputs import DEFAULT_CONCURRENCY, DEFAULT_CONTEXT
from cocoon.planner.memory import MemoryFit, memory_fit
from cocoon.planner.throughput import Throughput, estimate_throughput


class WorkerEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """The planner's view of a worker's model on its declared hardware."""

    model: str
    quant: str
    gpu: str | None
    gpus: int
    vram_gb: float
    fit: MemoryFit
    throughput: Throughput | None  # None when the GPU model is not declared (speed unknown)

    def summary(self) -> str:
        """One line for the worker's start-up log."""
        fit = self.fit
        weights, kv = fit.weights_bytes / GB, fit.kv_bytes / GB
        line = (
            f"{self.model} {self.quant}: {weights:.1f} GB weights + {kv:.1f} GB "
            f"KV ({fit.concurrency} x {fit.context} tokens) of {fit.usable_bytes / GB:.1f} GB usable on "
            f"{self.gpus} x {self.gpu or 'GPU'} ({self.vram_gb:g} GB)"
        )
        if self.throughput is not None:
            t = self.throughput
            line += (
                f"; est. decode {t.decode_tokens_per_s:,.0f} tok/s at batch {t.batch} "
                f"({t.per_stream_tokens_per_s:,.0f} per stream), prefill {t.prefill_tokens_per_s:,.0f} tok/s"
            )
        return line


def check_worker_fits(
    model: str,
    *,
    vram_gb: float | None = None,
    quant: str | None = None,
    gpu: str | None = None,
    gpu_count: int = 1,
    context: int = DEFAULT_CONTEXT,
    concurrency: int = DEFAULT_CONCURRENCY,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
    catalog: Catalog | None = None,
) -> WorkerEstimate:
    """Return the estimate for ``model`` on the declared GPUs, or raise PlannerError saying what to change.

    ``model`` may be a catalog name, an alias or a model identity ``name@revision:sha256-...``;
    ``vram_gb`` is per GPU and defaults to the catalog figure of ``gpu``; ``quant`` defaults to the
    model's native format. Unknown names raise CatalogLookupError (a PlannerError) with suggestions.
    """
    cat = catalog if catalog is not None else load_catalog()
    spec = cat.model(model)
    quantization = cat.quantization(quant or spec.native_quant, spec)
    gpu_spec = cat.gpu(gpu) if gpu is not None else None
    if vram_gb is None:
        if gpu_spec is None:
            raise PlannerError("worker preflight needs the VRAM per GPU or a GPU model; declare one of them")
        vram_gb = gpu_spec.vram_gb
    for name, value in (("vram_gb", vram_gb), ("gpu_count", gpu_count), ("context", context)):
        if not value > 0:
            raise PlannerError(f"worker preflight: {name} must be greater than 0, got {value}")
    if concurrency <= 0:
        raise PlannerError(f"worker preflight: concurrency must be greater than 0, got {concurrency}")
    fit = memory_fit(
        spec,
        quantization,
        vram_gb=vram_gb,
        gpus=gpu_count,
        context=context,
        concurrency=concurrency,
        assumptions=assumptions,
    )
    if not fit.fits:
        raise PlannerError(_refusal(fit, vram_gb, gpu_count, _remedy(cat, spec, fit, vram_gb, assumptions)))
    speed = None
    if gpu_spec is not None:
        speed = estimate_throughput(
            spec,
            quantization,
            gpu_spec,
            gpus=gpu_count,
            batch=concurrency,
            avg_context=context // 2,
            assumptions=assumptions,
        )
    return WorkerEstimate(
        model=spec.name,
        quant=quantization.name,
        gpu=gpu_spec.name if gpu_spec is not None else None,
        gpus=gpu_count,
        vram_gb=vram_gb,
        fit=fit,
        throughput=speed,
    )


def _remedy(
    catalog: Catalog, spec: ModelSpec, fit: MemoryFit, vram_gb: float, assumptions: Assumptions
) -> str:
    """What to change: the context limit, another quantization, less concurrency, or more memory."""
    if fit.context > spec.max_context:
        return f"lower the context to at most {spec.max_context} tokens"
    alternatives = [
        q
        for q in spec.quantizations
        if memory_fit(
            spec,
            catalog.quantization(q, spec),
            vram_gb=vram_gb,
            gpus=fit.gpus,
            context=fit.context,
            concurrency=fit.concurrency,
            assumptions=assumptions,
        ).fits
    ]
    if alternatives:
        return f"use {' or '.join(alternatives)}, lower concurrency or context, or add GPUs"
    if fit.max_concurrency > 0:
        return f"lower concurrency to {fit.max_concurrency} or the context, or add GPUs"
    return "use a GPU with more memory or more GPUs"


def _refusal(fit: MemoryFit, vram_gb: float, gpu_count: int, remedy: str) -> str:
    need = (
        f"{fit.model} in {fit.quant} needs {fit.weights_bytes / GB:.1f} GB of weights + "
        f"{fit.kv_bytes / GB:.1f} GB of KV cache ({fit.concurrency} x {fit.context} tokens) = "
        f"{fit.required_bytes / GB:.1f} GB, but {gpu_count} x {vram_gb:g} GB declared gives "
        f"{fit.usable_bytes / GB:.1f} GB usable ({fit.reason})"
    )
    return f"model does not fit: {need}; {remedy}"

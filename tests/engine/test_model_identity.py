"""Model identity (name@revision:sha256) and the cached weights hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cocoon.engine.model import ModelIdentity, builtin_gguf, cached_sha256, weights_identity
from cocoon.errors import ConfigError


def test_identity_round_trip() -> None:
    identity = ModelIdentity(name="Qwen3-8B", revision="v1:2", sha256="0f" * 32)
    assert identity.id == f"Qwen3-8B@v1:2:{'0f' * 32}"
    assert ModelIdentity.parse(identity.id) == identity


@pytest.mark.parametrize(
    "bad", ["name", "name@rev", "name@rev:abc", "@rev:" + "00" * 32, "n@rev:" + "zz" * 32]
)
def test_malformed_ids_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="name@revision:sha256"):
        ModelIdentity.parse(bad)


def test_hash_is_cached_and_invalidated_by_changes(tmp_path: Path) -> None:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"weights v1")
    cache = tmp_path / "cache"
    first = cached_sha256(weights, cache)
    assert first == hashlib.sha256(b"weights v1").hexdigest()
    # A cached entry is trusted while size and mtime match: prove it by planting a marker value.
    cache_file = cache / "weights-sha256.json"
    cache_file.write_text(cache_file.read_text().replace(first, "cached-marker"))
    assert cached_sha256(weights, cache) == "cached-marker"
    weights.write_bytes(b"weights v2!")
    os.utime(weights, ns=(1, 1))
    assert cached_sha256(weights, cache) == hashlib.sha256(b"weights v2!").hexdigest()
    assert "cached-marker" not in cache_file.read_text()  # the stale entry for that path is gone


def test_builtin_weights_identity(tmp_path: Path) -> None:
    path = builtin_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    identity = weights_identity(path, name="SmolLM2", revision="r", cache=tmp_path)
    assert len(identity.sha256) == 64
    assert identity.id.startswith("SmolLM2@r:")

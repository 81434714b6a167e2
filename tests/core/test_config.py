"""Configuration layering: defaults < TOML < environment < overrides; unknown keys are errors."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cocoon.config import load_config, to_toml
from cocoon.errors import ConfigError


class Sample(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    port: int = 10000
    engine_url: str = "http://127.0.0.1:8000"
    proxies: list[str] = msgspec.field(default_factory=list)
    debug: bool = False
    balances: dict[str, int] = msgspec.field(default_factory=dict)


def test_layers_override_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('port = 1\nengine_url = "http://file"\n')
    cfg = load_config(Sample, path, env={"COCOON_PORT": "2", "COCOON_DEBUG": "true"}, overrides={"port": 3})
    assert cfg == Sample(port=3, engine_url="http://file", debug=True)
    assert load_config(Sample, path, env={"COCOON_PORT": "2"}).port == 2
    assert load_config(Sample, path, env={}).port == 1
    assert load_config(Sample, env={}).port == 10000


def test_env_strings_and_arrays() -> None:
    cfg = load_config(Sample, env={"COCOON_ENGINE_URL": "http://x:1", "COCOON_PROXIES": '["a:1", "b:2"]'})
    assert cfg.engine_url == "http://x:1"
    assert cfg.proxies == ["a:1", "b:2"]


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(Sample, path, env={})


def test_wrong_type_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        load_config(Sample, env={}, overrides={"port": "many"})
    with pytest.raises(ConfigError, match="cocoon init"):
        load_config(Sample, tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(Sample, bad, env={})


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = Sample(port=5, proxies=["a"], debug=True, balances={"EQabc": 10**12})
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert load_config(Sample, path, env={}) == cfg

"""`cocoon init <role>` writes a commented config that loads back to the defaults."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from cocoon.cli.init import init
from cocoon.config import load_config
from cocoon.roles import ROLE_CONFIGS, field_help


@pytest.mark.parametrize("role", sorted(ROLE_CONFIGS))
def test_example_loads_back_to_defaults(role: str, tmp_path: Path) -> None:
    path = tmp_path / f"{role}.toml"
    result = CliRunner().invoke(init, [role, "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert load_config(ROLE_CONFIGS[role], path, env={}) == ROLE_CONFIGS[role]()
    again = CliRunner().invoke(init, [role, "-o", str(path)])
    assert again.exit_code == 2 and "--force" in again.output
    assert CliRunner().invoke(init, [role, "-o", str(path), "--force"]).exit_code == 0


@pytest.mark.parametrize("role", sorted(ROLE_CONFIGS))
def test_every_key_is_explained(role: str) -> None:
    missing = [f.name for f in msgspec.structs.fields(ROLE_CONFIGS[role]) if not field_help(f.name)]
    assert not missing, f"add a line to roles._HELP for {missing}"


def test_unknown_role_is_a_usage_error() -> None:
    assert CliRunner().invoke(init, ["miner"]).exit_code == 2

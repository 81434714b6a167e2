"""The `cocoon` command exists, lists its groups and reports our errors as one line."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from cocoon.cli.main import cli


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "up" in result.output


def test_up_says_what_it_will_do() -> None:
    result = CliRunner().invoke(cli, ["up", "--help"])
    assert result.exit_code == 0
    assert "local network" in result.output


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cocoon.cli.main", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "cocoon" in proc.stdout

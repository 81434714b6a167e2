"""`cocoon plan` through click: tables, --json, and one-line exit-2 errors for every bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from cocoon.cli.main import cli, main

APP = [
    "plan",
    "app",
    "--model",
    "Qwen3-8B",
    "--daily-queries",
    "1000000",
    "--avg-input",
    "500",
    "--avg-output",
    "300",
]


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def test_app_table_shows_the_worked_example() -> None:
    result = _run(APP)
    assert result.exit_code == 0, result.output
    # 8e8 adjusted tokens x 20 nanoTON = 16 TON/day, 480 TON per 30 days; stake = network minimum 15 TON
    assert "800,000,000" in result.stdout
    assert "16 TON/day, 480 TON per 30 days" in result.stdout
    assert "15 TON (10 min at 1x peak = 0.111111112 TON" in result.stdout
    assert "H100-SXM-80GB" in result.stdout and "Assumptions" in result.stdout


def test_app_json_is_machine_readable() -> None:
    result = _run([*APP, "--peak-factor", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cost_per_day_nanoton"] == 16_000_000_000
    assert data["cost_per_30_days_nanoton"] == 480_000_000_000
    assert data["stake_for_10_min_peak_nanoton"] == 333_333_334
    assert data["adjusted_per_day"]["total"] == 800_000_000
    h100 = next(o for o in data["gpu_options"] if o["gpu"] == "H100-SXM-80GB")
    assert h100["total_gpus"] == 4


def test_app_with_price_and_shares() -> None:
    result = _run(
        [*APP, "--price-per-token", "25", "--cached-share", "0.2", "--reasoning-share", "0.5", "--json"]
    )
    data = json.loads(result.stdout)
    # 8e8 x 25 = 2e10 nanoTON; shares only move tokens between classes at 1.0x multipliers
    assert data["cost_per_day_nanoton"] == 20_000_000_000
    assert data["usage_per_day"]["cached_tokens"] == 100_000_000
    assert data["usage_per_day"]["reasoning_tokens"] == 150_000_000


def test_gpu_table_and_json() -> None:
    result = _run(["plan", "gpu", "--gpu", "RTX-4090", "--uptime", "0.9"])
    assert result.exit_code == 0, result.output
    assert "no confidential mode" in result.stdout
    assert "Qwen3-8B" in result.stdout and "SmolLM2-135M" in result.stdout
    data = json.loads(_run(["plan", "gpu", "--gpu", "h100", "--count", "2", "--json"]).stdout)
    assert data["gpu"] == "H100-SXM-80GB" and data["count"] == 2 and data["confidential"] is True
    llama70 = next(o for o in data["options"] if o["model"] == "Llama-3.1-70B" and o["quant"] == "BF16")
    # 141.1 GB of weights + 10.7 GB KV on 2 x 72 GB = 144 GB usable: does not fit
    assert llama70["fit"]["fits"] is False and llama70["earnings_per_day_nanoton"] is None
    fp8 = next(o for o in data["options"] if o["model"] == "Llama-3.1-70B" and o["quant"] == "FP8")
    assert fp8["earnings_per_day_nanoton"] == fp8["adjusted_tokens_per_day"] * 19


def test_gpu_all_lists_every_row() -> None:
    short = _run(["plan", "gpu", "--gpu", "RTX-4090"]).stdout
    every = _run(["plan", "gpu", "--gpu", "RTX-4090", "--all"]).stdout
    assert "Qwen3-32B       │ BF16" not in short
    assert "Qwen3-32B       │ BF16" in every


def test_catalog_listings_with_sources() -> None:
    models = _run(["plan", "models", "--sources"])
    assert models.exit_code == 0 and "DeepSeek-V3" in models.stdout and "arXiv 2412.19437" in models.stdout
    gpus = _run(["plan", "gpus", "--sources"])
    assert gpus.exit_code == 0 and "L40S" in gpus.stdout and "datasheet" in gpus.stdout
    assert len(json.loads(_run(["plan", "gpus", "--json"]).stdout)["gpus"]) >= 8


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plan", "app", "--model", "qwen-8b", *APP[4:]], "unknown model 'qwen-8b'; did you mean Qwen3-8B"),
        (["plan", "gpu", "--gpu", "RTX 4080"], "unknown GPU 'RTX 4080'; did you mean RTX-4090"),
        ([*APP[:5], "0", *APP[6:]], "daily queries must be greater than 0"),
        ([*APP[:5], "-10", *APP[6:]], "daily queries must be greater than 0"),
        ([*APP[:7], "0", *APP[8:]], "average input tokens must be greater than 0"),
        ([*APP[:9], "-3"], "average output tokens must be greater than 0"),
        ([*APP[:5], "lots", *APP[6:]], "'lots' is not a valid integer"),
        ([*APP, "--cached-share", "1.2"], "cached share must be within 0..1"),
        ([*APP, "--peak-factor", "0.5"], "peak factor must be at least 1"),
        ([*APP, "--quant", "INT3"], "unknown quantization 'INT3' for Qwen3-8B; choose one of"),
        (["plan", "gpu", "--gpu", "H100", "--uptime", "1.5"], "uptime must be within (0, 1]"),
        (["plan", "gpu", "--gpu", "H100", "--uptime", "-0.1"], "uptime must be within (0, 1]"),
        (["plan", "gpu", "--gpu", "H100", "--count", "0"], "GPU count must be greater than 0"),
        (["plan", "gpu"], "Missing option '--gpu'"),
        (["plan", "budget"], "No such command 'budget'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = _run(args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert expected in lines[0]


def test_real_entry_point_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["plan", "gpu", "--gpu", "H100", "--uptime", "2"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "uptime must be within (0, 1]" in err

"""The example systemd units in deploy/systemd: they parse, keep the node's data dir writable under their
hardening, restart on failure within limits, log to the journal, and start a real `cocoon` command
whose options the CLI accepts (its `--help` lists them and its parser takes the values)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cocoon.cli.main import cli

UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
ROLES = ("client", "proxy", "worker")

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """systemd unit-file syntax: [Section] headers, Key=Value lines (a key may repeat), comments
    starting with # or ;, a trailing backslash continuing a line. Anything else is an error."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    logical = re.sub(r"\\\n", " ", text)
    for number, raw in enumerate(logical.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert section is not None and sep and key.strip(), f"line {number} is not Key=Value: {raw!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def load(role: str) -> Unit:
    return parse_unit((UNITS / f"cocoon-{role}.service").read_text())


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"[{section}] {key} should be set once, is {values}"
    return values[0]


def test_one_unit_per_node_role() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == [f"cocoon-{r}.service" for r in ROLES]


def test_the_parser_refuses_what_systemd_refuses() -> None:
    with pytest.raises(AssertionError, match="not Key=Value"):
        parse_unit("[Service]\nExecStart /bin/true\n")
    unit = parse_unit("[Service]\nA=1\nA=2\nB=x \\\n  y\n")
    assert unit["Service"] == {"A": ["1", "2"], "B": ["x    y"]}


@pytest.mark.parametrize("role", ROLES)
def test_restart_logs_user_and_hardening(role: str) -> None:
    unit = load(role)
    service = unit["Service"]
    assert one(unit, "Service", "Restart") == "on-failure"
    assert float(one(unit, "Service", "RestartSec")) > 0
    assert int(one(unit, "Unit", "StartLimitBurst")) >= 1
    assert int(one(unit, "Unit", "StartLimitIntervalSec")) > 0
    assert one(unit, "Service", "StandardOutput") == one(unit, "Service", "StandardError") == "journal"
    assert one(unit, "Service", "User") == one(unit, "Service", "Group") == "cocoon"
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "CapabilityBoundingSet") == ""  # ports above 1024: no capability needed
    assert one(unit, "Install", "WantedBy") == "multi-user.target"
    # The node's data dir is the one it is told to use, and the one its hardening leaves writable.
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    data_dir = argv[argv.index("--data-dir") + 1]
    assert data_dir == f"/var/lib/cocoon/{role}"
    assert one(unit, "Service", "ReadWritePaths") == data_dir
    assert "/var/lib/" + one(unit, "Service", "StateDirectory") == data_dir
    # A proxy's or worker's TDX quote is made by writing to configfs under /sys, which
    # ProtectKernelTunables= would make read-only.
    if role != "client":
        assert "ProtectKernelTunables" not in service


def _help_options(role: str) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-m", "cocoon.cli.main", role, "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"{role} run [OPTIONS]" in run.stdout
    names: set[str] = set()
    for match in re.findall(r"(?m)^\s+((?:-\w, )?--[\w-]+)", run.stdout):
        names.update(match.split(", "))
    return names


@pytest.mark.parametrize("role", ROLES)
def test_exec_start_is_a_command_the_cli_accepts(role: str) -> None:
    argv = shlex.split(one(load(role), "Service", "ExecStart"))
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == "cocoon"
    assert argv[1:3] == [role, "run"]
    options = [arg for arg in argv[3:] if arg.startswith("-")]
    listed = _help_options(role)
    assert {"-c", "--config", "--data-dir", "--help"} <= listed
    assert options and set(options) <= listed, f"{options} not all in `{role} run --help`"
    # The CLI's own parser takes the arguments (names, arity, types) without running the node.
    ctx = click.Context(cli)
    group = cli.get_command(ctx, role)
    assert isinstance(group, click.Group)
    command = group.get_command(ctx, "run")
    assert command is not None
    parsed = command.make_context("run", argv[3:], parent=ctx)
    assert parsed.params["config_path"] == Path(f"/etc/cocoon/{role}.toml")
    assert parsed.params["data_dir"] == f"/var/lib/cocoon/{role}"
    with pytest.raises(click.UsageError):  # the check above can fail: an unknown option is refused
        command.make_context("run", [*argv[3:], "--no-such-option"], parent=ctx)


def _cocoon_binary() -> str:
    beside = Path(sys.executable).parent / "cocoon"
    found = str(beside) if beside.exists() else shutil.which("cocoon")
    assert found, "the cocoon command is not installed beside this Python"
    return found


@pytest.mark.parametrize("role", ROLES)
def test_systemd_verifies_the_unit(role: str, tmp_path: Path) -> None:
    """`systemd-analyze verify` with the installed `cocoon` in place of /opt/cocoon/venv/bin/cocoon;
    where systemd is not installed, the unit is checked by `parse_unit` and the tests above alone."""
    text = (UNITS / f"cocoon-{role}.service").read_text()
    assert "/opt/cocoon/venv/bin/cocoon " in text
    unit = tmp_path / f"cocoon-{role}.service"
    unit.write_text(text.replace("/opt/cocoon/venv/bin/cocoon", _cocoon_binary()))
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        assert parse_unit(unit.read_text())["Service"]["ExecStart"]
        return
    run = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr

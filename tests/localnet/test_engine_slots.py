"""`cocoon up` gives each worker its own slots of the shared built-in engine and says so."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cocoon.localnet.up import LocalNet, LocalNetPlan, service_specs


def _plan(tmp_path: Path, engine: str, workers: int = 3) -> LocalNetPlan:
    return LocalNetPlan(
        data_dir=tmp_path,
        engine="builtin" if engine == "builtin" else "fake",
        engine_url=None,
        workers=workers,
        base_port=10 * 47,
    )


def test_the_builtin_engine_runs_a_slot_set_per_worker_and_each_worker_takes_its_own(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "builtin")
    specs = {spec.name: spec for spec in service_specs(plan)}
    argv = specs["engine"].argv
    assert argv[argv.index("--slots") + 1] == "6"  # 3 workers x 2 slots
    for i in (1, 2, 3):
        config = tomllib.loads((tmp_path / "config" / f"worker-{i}.toml").read_text())
        assert config["max_active"] == 2
    net = LocalNet(plan, lambda _line: None)
    assert net.slots_of("engine") == "6 (shared)"
    assert net.slots_of("worker-2") == "2 of the engine's 6"
    assert net.slots_of("proxy") == ""


def test_the_fake_engine_has_no_slots_to_share(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "fake")
    specs = {spec.name: spec for spec in service_specs(plan)}
    assert "--slots" not in specs["engine"].argv
    config = tomllib.loads((tmp_path / "config" / "worker-1.toml").read_text())
    assert config.get("max_active", 8) == 8
    assert LocalNet(plan, lambda _line: None).slots_of("worker-1") == ""


def test_slots_set_every_workers_max_active_with_any_engine(tmp_path: Path) -> None:
    for engine, slots in (("fake", 128), ("builtin", 3)):
        data = tmp_path / engine
        plan = LocalNetPlan(
            data_dir=data,
            engine="fake" if engine == "fake" else "builtin",
            engine_url=None,
            workers=2,
            slots=slots,
        )
        specs = {spec.name: spec for spec in service_specs(plan)}
        for i in (1, 2):
            config = tomllib.loads((data / "config" / f"worker-{i}.toml").read_text())
            assert config["max_active"] == slots
        if engine == "builtin":
            argv = specs["engine"].argv
            assert argv[argv.index("--slots") + 1] == "6"  # 2 workers x 3 slots
        else:
            assert LocalNet(plan, lambda _line: None).slots_of("worker-1") == "128"


def test_slots_is_a_cocoon_up_option_with_a_range() -> None:
    from click.testing import CliRunner

    from cocoon.cli.up import up

    result = CliRunner().invoke(up, ["--slots", "0", "--no-demo"])
    assert result.exit_code == 2
    assert "--slots" in result.output

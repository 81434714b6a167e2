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

"""The committed contract artifacts are exactly what ``contracts/*.fc`` compile to.

Recompiles with Node (``contracts/build.mjs``) into a temporary directory and compares the code hashes
and BoCs with ``src/cocoon/ton/artifacts``. Without node/npm on the machine the test is skipped and says
so: the project itself never needs Node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cocoon.ton import artifacts

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS_DIR = ROOT / "src" / "cocoon" / "ton" / "artifacts"


def _need_node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            "node/npm are not installed: cannot recompile the FunC contracts (committed artifacts used)"
        )
    if not (CONTRACTS_DIR / "node_modules" / "@ton-community" / "func-js").is_dir():
        install = [npm, "ci", "--no-audit", "--no-fund"]
        done = subprocess.run(install, cwd=CONTRACTS_DIR, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:  # e.g. no access to the npm registry: nothing to compile with
            pytest.skip(f"`npm ci` in contracts/ failed, cannot recompile: {done.stderr.strip()[-300:]}")
    return node


def test_recompiled_contracts_match_committed_artifacts(tmp_path: Path) -> None:
    node = _need_node()
    build = [node, "build.mjs", "--out", str(tmp_path)]
    run = subprocess.run(build, cwd=CONTRACTS_DIR, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    fresh = json.loads((tmp_path / "code_hashes.json").read_text())
    committed = json.loads((ARTIFACTS_DIR / "code_hashes.json").read_text())
    assert fresh == committed
    for name in artifacts.CONTRACTS:
        assert (tmp_path / f"{name}.boc").read_bytes() == (ARTIFACTS_DIR / f"{name}.boc").read_bytes(), name


def test_loader_hashes_agree_with_the_recorded_ones() -> None:
    committed = json.loads((ARTIFACTS_DIR / "code_hashes.json").read_text())
    for name in artifacts.CONTRACTS:
        assert artifacts.code_hash(name).hex() == committed[name]
        assert artifacts.contract_code(name).hash == artifacts.code_hash(name)


def test_unknown_contract_name_is_refused() -> None:
    from cocoon.errors import ChainDataError

    with pytest.raises(ChainDataError, match="unknown contract"):
        artifacts.contract_code("nope")

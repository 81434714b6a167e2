"""`cocoon up --attestation tdx-vectors`: real processes (chain, PCCS, engine, proxy, worker, client);
the worker presents the recorded quote, the proxy admits it through the tdx policy with collateral
from the local PCCS, and the client seals the demo request to it end to end. Plain `cocoon up` is
unchanged: no PCCS, fake policies, no demo variable."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_chain_up import free_instance

from cocoon.errors import ConfigError
from cocoon.localnet.up import LocalNet, LocalNetPlan, demo_request, service_specs
from cocoon.node.demo_vectors import DEMO_ENV

pytestmark = pytest.mark.slow
DCAP_IMAGE = bytes.fromhex("b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752")


def tdx_instance() -> int:
    """An instance whose `cocoon up` ports, the demo PCCS's included, are free."""
    return free_instance(91, extra_ports=(13081,))


def _config(data_dir: Path, node: str) -> dict[str, object]:
    return tomllib.loads((data_dir / "config" / f"{node}.toml").read_text())


def test_plain_up_is_unchanged(tmp_path: Path) -> None:
    plan = LocalNetPlan(
        data_dir=tmp_path,
        engine="fake",
        engine_url=None,
        workers=1,
        base_port=10 * tdx_instance(),
    )
    specs = service_specs(plan)
    assert [s.name for s in specs] == ["chain", "engine", "proxy", "worker-1", "client"]
    assert all(DEMO_ENV not in s.env for s in specs)
    assert (
        _config(tmp_path, "proxy")["worker_policy"] == "fake" and _config(tmp_path, "proxy")["pccs_url"] == ""
    )


def test_the_demo_needs_its_vectors(tmp_path: Path) -> None:
    plan = LocalNetPlan(data_dir=tmp_path, engine="fake", engine_url=None, attestation="tdx-vectors")
    with pytest.raises(ConfigError, match="needs the recorded vectors: pass --vectors DIR"):
        service_specs(plan)


async def test_up_in_the_demo_answers_through_a_tdx_attested_worker(tmp_path: Path, vectors) -> None:
    root = vectors.path("dcap-tdx-quote.bin").parent
    vectors.path("dcap-tdx-quote-collateral.json")
    instance = tdx_instance()
    plan = LocalNetPlan(
        data_dir=tmp_path,
        engine="fake",
        engine_url=None,
        workers=1,
        base_port=10 * instance,
        attestation="tdx-vectors",
        vectors_dir=root,
    )
    net = LocalNet(plan, lambda line: None)
    try:
        models = await net.start()
        assert net.chain is not None and net.chain.root.worker_image_allowed(DCAP_IMAGE)
        answer = await demo_request(plan.openai_base_url, models[0]["id"])
        assert answer.text and answer.e2e  # sealed to the worker whose recorded quote the client verified
        proxy = _config(tmp_path, "proxy")
        assert proxy["worker_policy"] == "tdx" and proxy["pccs_url"] == f"http://127.0.0.1:{plan.pccs_port}"
        assert _config(tmp_path, "client")["worker_policy"] == "tdx"
        logs = {n: (tmp_path / "logs" / f"{n}.log").read_text() for n in ("proxy", "worker-1", "client")}
        assert all("DEMO MODE tdx-vectors" in text for text in logs.values())
        assert "DCAP collateral for FMSPC B0C06F000000 fetched" in logs["proxy"]
        refusals = [line for line in logs["proxy"].splitlines() if "peer refused" in line]
        # (a worker's first dial may come before its statement is signed: refused for that, then joined)
        assert not [line for line in refusals if "quote" in line or "collateral" in line.lower()], refusals
        assert f"joined: fake-model at 1000 (image {DCAP_IMAGE.hex()})" in logs["proxy"]
    finally:
        await net.stop()

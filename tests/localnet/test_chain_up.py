"""`cocoon up`'s chain: the chain process starts first, the root is deployed with our hashes, the proxy is
registered, every wallet is funded, nodes are pointed at it, and the status shows balances."""

from __future__ import annotations

import socket
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.localnet.chain import ROOT_OWNER, prepare_chain
from cocoon.localnet.up import LocalNet, LocalNetPlan
from cocoon.registry import read_registry
from cocoon.ton.address import Address
from cocoon.ton.data import ProxyEndpoints

pytestmark = pytest.mark.slow


def free_instance(first: int = 61, extra_ports: tuple[int, ...] = ()) -> int:
    """An instance from ``first`` on whose chain, engine, proxy, worker and client ports (and
    ``extra_ports``, before the instance's shift) are free."""
    for instance in range(first, first + 29):
        b = 10 * instance
        ports = [13000, 8000, 10000, 11000, 11001, 11002, 11003, 12000, *extra_ports]
        if all(_port_free(p + b) for p in ports):
            return instance
    raise RuntimeError("no free instance for a local network")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _node_config(data_dir: Path, node: str) -> tuple[dict[str, object], int]:
    """The node's generated config and the permission bits of the wallet key file it names."""
    config = tomllib.loads((data_dir / "config" / f"{node}.toml").read_text())
    return config, Path(str(config["wallet_key"])).stat().st_mode & 0o777


def _log(data_dir: Path, node: str) -> str:
    return (data_dir / "logs" / f"{node}.log").read_text()


async def test_up_prepares_the_chain_and_shows_balances(tmp_path: Path) -> None:
    instance = free_instance()
    plan = LocalNetPlan(data_dir=tmp_path, engine="fake", engine_url=None, workers=1, base_port=10 * instance)
    lines: list[str] = []
    net = LocalNet(plan, lines.append)
    try:
        await net.start()
        assert lines[0].startswith("starting chain")  # before the engine and every node
        assert net.chain is not None
        root = net.chain.root
        b = plan.base_port
        assert root.proxies == {1: ProxyEndpoints(f"127.0.0.1:{11001 + b}", f"127.0.0.1:{11002 + b}")}
        assert root.worker_image_allowed(FAKE_IMAGE_HASH) and root.proxy_image_allowed(FAKE_IMAGE_HASH)
        assert root.model_allowed("fake-model")
        assert root.owner == net.chain.wallets[ROOT_OWNER]

        for node in ("proxy", "worker-1", "client"):
            config, key_mode = _node_config(tmp_path, node)
            assert config["chain_url"] == plan.chain_url
            assert Address.parse(config["root_address"]) == root.root
            assert key_mode == 0o600

        for node in ("worker-1", "client"):  # they took their proxies from the root
            assert f"proxies from root {root.root.raw}" in _log(tmp_path, node)

        await net.refresh_balances()
        rows = {row[0]: row for row in net.status_rows()}
        assert rows["chain"][3] == plan.chain_url
        assert float(rows["proxy"][5]) >= 2.1 and float(rows["worker-1"][5]) >= 2.1
        assert float(rows["client"][5]) > plan.client_credit_ton
        assert rows["engine"][5] == ""  # the engine has no wallet
        assert rows["worker-1"][4] == ""  # the fake engine has no slots to share

        # a second preparation (a restarted `cocoon up`) changes nothing on the root
        again = await prepare_chain(plan.chain_plan(), ["fake-model"])
        assert again.root.version == root.version and again.root.root == root.root
        async with ToncenterChain(plan.chain_url) as chain:
            assert (await read_registry(chain, root.root)).proxies == root.proxies

        # the same data dir on other ports: the stale registration is replaced
        moved = ProxyEndpoints("127.0.0.1:1", "127.0.0.1:2")
        third = await prepare_chain(replace(plan.chain_plan(), proxy=moved), ["fake-model"])
        assert third.root.proxies == {2: moved}
    finally:
        await net.stop()

"""`cocoon root upgrade-contracts`, `upgrade` and `reset` as a user runs them against a `cocoon chain
serve` process; every change is read back from the root contract."""

from __future__ import annotations

from pathlib import Path

from test_cli_root import chain_url, cocoon  # noqa: F401  (chain_url is a fixture)
from test_cli_root_ops import IMAGE, MODEL, owner_key, registry

from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Builder


async def test_upgrade_contracts_upgrade_and_reset(tmp_path: Path, chain_url: str) -> None:  # noqa: F811
    url = ("--chain-url", chain_url)
    key, _ = await owner_key(tmp_path, chain_url, "owner")
    code, out, err = await cocoon("root", "deploy", "--key", key, *url)
    assert code == 0, err
    root = out.split()[1]
    op = ("--key", key, *url, "--root", root)
    for args in (("allow-image", IMAGE), ("allow-model", MODEL), ("register-proxy", "127.0.0.1:1")):
        assert (await cocoon("root", *args, *op))[0] == 0
    before = await registry(chain_url, root)

    # the root already hands out the shipped codes: nothing to do, nothing sent
    code, _, err = await cocoon("root", "upgrade-contracts", *op)
    assert code == 1 and "already hands out these three codes; nothing was sent" in err
    # a new worker code (any cell stands in for one here) bumps the params version
    new_worker = Builder().store_uint(0xC0DE, 16).end_cell()
    boc = tmp_path / "worker.boc"
    boc.write_bytes(new_worker.to_boc())
    code, out, err = await cocoon("root", "upgrade-contracts", "--worker-code", str(boc), *op)
    assert code == 0, err
    assert f"worker code -> {new_worker.hash.hex()}" in out
    assert f"params version               {before.params_version} -> {before.params_version + 1}" in out
    snap = await registry(chain_url, root)
    p = snap.chain_params
    assert p.worker_code is not None and p.worker_code.hash == new_worker.hash
    assert p.proxy_code is not None and p.proxy_code.hash == contract_code("proxy").hash
    assert snap.params_version == before.params_version + 1 and snap.version == before.version + 1
    bad = tmp_path / "bad.boc"
    bad.write_bytes(b"not a boc")
    code, _, err = await cocoon("root", "upgrade-contracts", "--client-code", str(bad), *op)
    assert code == 2 and "is not a BoC with one root cell" in err

    # the root's own code: asks for --yes, then keeps the data and moves the version
    code, _, err = await cocoon("root", "upgrade", *op)
    assert code == 2 and "add --yes" in err
    code, out, err = await cocoon("root", "upgrade", "--yes", *op)
    assert code == 0 and f"root code -> {contract_code('root').hash.hex()}" in out, err
    snap = await registry(chain_url, root)
    assert snap.version == before.version + 2 and snap.proxies == before.proxies

    # reset clears the four registries and keeps the params
    code, _, err = await cocoon("root", "reset", *op)
    assert code == 2 and "add --yes" in err
    code, out, err = await cocoon("root", "reset", "--yes", *op)
    assert code == 0 and f"root version {before.version + 2} -> {before.version + 3}" in out, err
    snap = await registry(chain_url, root)
    assert snap.proxies == {} and snap.worker_hashes == snap.model_hashes == snap.proxy_hashes == frozenset()
    assert snap.params_version == before.params_version + 1
    code, _, err = await cocoon("root", "reset", "--yes", *op)
    assert code == 1 and "the registry is already empty; nothing was sent" in err

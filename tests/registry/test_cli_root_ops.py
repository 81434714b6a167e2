"""`cocoon root` revoke / unregister / update / set-params / change-owner as a user runs them, against a
`cocoon chain serve` process; every change is read back from the root contract."""

from __future__ import annotations

import hashlib
from pathlib import Path

from test_cli_root import chain_url, cocoon  # noqa: F401  (chain_url is a fixture)

from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.registry import RegistrySnapshot, model_hash, read_registry
from cocoon.ton.address import Address
from cocoon.ton.data import ProxyEndpoints

IMAGE = hashlib.sha256(b"worker image").hexdigest()
PROXY_IMAGE = hashlib.sha256(b"proxy image").hexdigest()
MODEL = "tiny@1:abc"


async def registry(url: str, root: str) -> RegistrySnapshot:
    async with ToncenterChain(url) as chain:
        return await read_registry(chain, Address.parse(root))


async def owner_key(tmp_path: Path, url: str, name: str) -> tuple[str, str]:
    key = str(tmp_path / f"{name}.key")
    code, out, err = await cocoon("wallet", "new", "--key", key)
    assert code == 0, err
    address = out.split("address:")[1].split()[0]
    assert (await cocoon("chain", "faucet", address, "5", "--url", url))[0] == 0
    return key, address


async def test_revoke_unregister_update_params_and_owner(tmp_path: Path, chain_url: str) -> None:  # noqa: F811
    url = ("--chain-url", chain_url)
    key, _ = await owner_key(tmp_path, chain_url, "owner")
    code, out, err = await cocoon("root", "deploy", "--key", key, *url)
    assert code == 0, err
    root = out.split()[1]
    op = ("--key", key, *url, "--root", root)
    for args in (
        ("allow-image", IMAGE),
        ("allow-proxy-image", PROXY_IMAGE),
        ("allow-model", MODEL),
        ("register-proxy", "127.0.0.1:1"),
        ("register-proxy", "127.0.0.2:1"),
    ):
        assert (await cocoon("root", *args, *op))[0] == 0
    before = await registry(chain_url, root)
    assert before.version == 5 and set(before.proxies) == {1, 2}

    # revoking what is not there says so and sends nothing
    code, _, err = await cocoon("root", "revoke-image", PROXY_IMAGE, *op)
    assert code == 1 and "is not allowed; nothing was sent" in err
    code, _, err = await cocoon("root", "unregister-proxy", "7", *op)
    assert code == 1 and "no proxy is registered under seqno 7" in err
    assert (await registry(chain_url, root)).version == 5

    code, out, err = await cocoon("root", "revoke-image", IMAGE, *op)
    assert code == 0 and "root version 5 -> 6" in out, err
    code, out, err = await cocoon("root", "revoke-proxy-image", PROXY_IMAGE, *op)
    assert code == 0 and "root version 6 -> 7" in out, err
    code, out, err = await cocoon("root", "revoke-model", MODEL, *op)
    assert code == 0 and "root version 7 -> 8" in out, err
    snap = await registry(chain_url, root)
    assert snap.worker_hashes == snap.proxy_hashes == snap.model_hashes == frozenset()
    assert model_hash(MODEL) in before.model_hashes

    code, out, err = await cocoon("root", "unregister-proxy", "1", *op)
    assert code == 0 and "unregistering #1 127.0.0.1:1" in out, err
    code, out, err = await cocoon("root", "update-proxy", "2", "10.0.0.9:5", "10.0.0.9:6", *op)
    assert code == 0 and "proxy #2: 127.0.0.2:1 -> 10.0.0.9:5 10.0.0.9:6" in out, err
    snap = await registry(chain_url, root)
    assert snap.version == 10 and snap.proxies == {2: ProxyEndpoints("10.0.0.9:5", "10.0.0.9:6")}

    code, _, err = await cocoon("root", "set-params", "--worker-fee", "30", *op)
    assert code == 1 and "worker_fee_per_token must be within" in err  # price stays 20
    code, out, err = await cocoon(
        "root", "set-params", "--price", "30", "--worker-fee", "27", "--proxy-delay", "60",
        "--min-client-stake", "2", *op,
    )  # fmt: skip
    assert code == 0, err
    assert "price/token (nanoTON)        20 -> 30" in out
    assert "proxy close delay (s)        600 -> 60" in out
    assert "min client stake (TON)       1 -> 2" in out
    assert f"params version               {before.params_version} -> {before.params_version + 1}" in out
    snap = await registry(chain_url, root)
    p = snap.params
    assert (p.price_per_token, p.worker_fee_per_token, p.proxy_delay_before_close) == (30, 27, 60)
    assert (p.client_delay_before_close, p.min_proxy_stake, p.min_client_stake) == (300, 10**9, 2 * 10**9)
    assert snap.params_version == before.params_version + 1 and snap.version == 11

    new_key, new_owner = await owner_key(tmp_path, chain_url, "next")
    code, out, err = await cocoon("root", "change-owner", new_owner, *op)
    assert code == 0, err
    snap = await registry(chain_url, root)
    assert snap.owner == Address.parse(new_owner) and snap.version == 12
    assert f"-> {snap.owner.raw}" in out
    code, _, err = await cocoon("root", "allow-model", MODEL, *op)  # the old owner is refused
    assert code == 1 and "not the root's owner" in err
    code, out, err = await cocoon("root", "allow-model", MODEL, "--key", new_key, *url, "--root", root)
    assert code == 0 and "root version 12 -> 13" in out, err

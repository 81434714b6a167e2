"""A client daemon pointed at a root of the public COCOON network, on the local chain.

The root account holds the recorded mainnet root data (``tests/ton/fixtures/reference``, params v4)
under a code cell of its own: the client reads the root's data only (one account read), so any code
will do. The client is built through the chain's HTTP API on loopback, as ``cocoon client run``
builds it; it is never run against the recorded proxy's address (nothing here leaves loopback), and
where connections are tried they go to a closed loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner
from reference_vectors import (  # the shared recorded-cell helpers of tests/ton
    CLIENT_CONTRACT,
    CLIENT_OWNER,
    PROXY_CONTRACT,
    PROXY_PUBLIC_KEY,
    PUBLIC_ROOT,
    ROOT_OWNER,
    RecordedClient,
    Recorder,
    cell,
)

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.cli.root import root as root_cli
from cocoon.client.build import build_client
from cocoon.client.cocoon_register import ChainLongAuth, reference_contracts
from cocoon.errors import ConfigError, PaymentError
from cocoon.node.chain import open_node_chain
from cocoon.node.keys import wallet_key_path
from cocoon.node.public_root import is_reference_layout, parse_root
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import ClientConfig, WorkerConfig
from cocoon.tl.types import ProxyParams
from cocoon.ton import data
from cocoon.ton import reference as ref
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import begin_cell
from cocoon.ton.ops import TON, Op
from cocoon.ton.params import make_params
from cocoon.ton.reference.proxy_contract import proxy_contract_address
from cocoon.ton.reference.root import VerifiedKeys
from cocoon.wallet import load_or_create_key_file
from waiting import wait_until

RECORDED_PROXY = "91.108.4.11:8888"  # the recorded root's one registered proxy, client endpoint
NOW = 1_750_000_000


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def key_file_exists(data_dir: Path) -> bool:
    return Path(wallet_key_path(str(data_dir))).exists()


@contextlib.contextmanager
def public_root() -> Iterator[tuple[LocalChain, Address]]:
    """A local chain whose root account holds the recorded public root data (empty code)."""
    local = LocalChain(None, now=NOW)
    yield local, local.deploy(begin_cell().end_cell(), cell("root_data_v4"), TON)


@contextlib.asynccontextmanager
async def served(local: LocalChain) -> AsyncIterator[str]:
    """``local`` behind the toncenter-style HTTP API on loopback; its URL."""
    server = TestServer(create_app(local), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


def client_config(tmp_path: Path, local: LocalChain, root: Address, url: str, **keys: Any) -> ClientConfig:
    """A client on ``root`` with a funded node wallet (3 TON from the faucet)."""
    local.fund(load_or_create_key_file(wallet_key_path(str(tmp_path))).address, 3 * TON)
    config = ClientConfig(
        chain_url=url, root_address=root.friendly(), http_port=0, data_dir=str(tmp_path), e2e="preferred"
    )
    return msgspec.structs.replace(config, **keys)


async def test_a_client_on_the_public_root_takes_its_cocoon_proxy_contracts_and_price_from_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    recorded = ref.parse_reference_root(cell("root_data_v4"))
    with public_root() as (local, root):
        async with served(local) as url:
            config = client_config(tmp_path, local, root, url, proxies=["127.0.0.1:11999"])
            async with build_client(config) as client:
                pool = client.service
                # Nothing of our own protocol: no proxies, no payment channels, no root follower.
                assert pool.proxies == [] and pool.links.addresses == [] and pool.payments is None
                assert len(client.jobs) == 1
                cocoon = pool.cocoon
                assert cocoon is not None and cocoon.addresses == [RECORDED_PROXY]
                assert cocoon.price_per_token == recorded.params.price_per_token == 20
                assert isinstance(cocoon.long_auth, ChainLongAuth)
                contracts = cocoon.long_auth.contracts
                assert contracts.min_stake == 15 * TON  # the public network's client stake
                # The recorded owner's contract for the recorded proxy: the fixtures' address.
                init = contracts.state_init(CLIENT_OWNER, PROXY_CONTRACT, PROXY_PUBLIC_KEY)
                assert data.address_of(init) == CLIENT_CONTRACT
                # Our own: owned by the node wallet, derived with the reference's layout.
                wallet = cocoon.long_auth.sender.address
                assert cocoon.account.owner_address == wallet.friendly(bounceable=False)
                ours = data.address_of(contracts.state_init(wallet, PROXY_CONTRACT, PROXY_PUBLIC_KEY))
                assert ours == ref.client_contract_address(recorded, wallet, PROXY_CONTRACT, PROXY_PUBLIC_KEY)
                # Proxy contracts are checked under the root the client was pointed at.
                assert contracts.proxy_contract is not None
                expected = proxy_contract_address(recorded, root, ROOT_OWNER, PROXY_PUBLIC_KEY)
                assert contracts.proxy_contract(ROOT_OWNER, PROXY_PUBLIC_KEY) == expected
                assert cocoon.links == {} and cocoon.connects == 0  # built, never run: nothing dialled
    log = caplog.text
    assert f"root {root.raw} is a public COCOON network root: params v4" in log
    assert "proxies = ['127.0.0.1:11999'] ignored" in log
    assert f"COCOON proxies from root {root.raw}: {RECORDED_PROXY}" in log


async def test_a_pinned_cocoon_proxy_is_kept_and_only_it_is_dialled(tmp_path: Path) -> None:
    """Run for real, with ``cocoon_proxies`` pinned to a closed loopback port: the client dials only
    that (and fails there), never the root's proxy nor a proxy of our protocol."""
    pinned = f"127.0.0.1:{closed_port()}"
    with public_root() as (local, root):
        async with served(local) as url:
            config = client_config(tmp_path, local, root, url, cocoon_proxies=[pinned])
            async with build_client(config) as client:
                pool = client.service
                assert pool.cocoon is not None and pool.cocoon.addresses == [pinned]
                cocoon = pool.cocoon
                task = asyncio.create_task(client.run())
                try:
                    await wait_until(lambda: pinned in cocoon.last_error, 20, what="the pinned dial failed")
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                assert "cannot connect" in cocoon.last_error[pinned]
                assert list(cocoon.last_error) == [pinned] and pool.links.last_error == {}


async def test_e2e_required_is_refused_on_a_public_root_with_what_to_do(tmp_path: Path) -> None:
    with public_root() as (local, root):
        async with served(local) as url:
            config = client_config(tmp_path, local, root, url, e2e="required")
            with pytest.raises(ConfigError, match='plaintext only; set e2e = "preferred" or "off"'):
                async with build_client(config):
                    pass


async def test_a_worker_pointed_at_the_public_root_is_refused_before_any_wallet_work(tmp_path: Path) -> None:
    with public_root() as (local, root):
        config = WorkerConfig(chain_url="local", root_address=root.raw, data_dir=str(tmp_path))
        async with AsyncExitStack() as stack:
            with pytest.raises(ConfigError, match=r"only a client can use it.*Point root_address at a root"):
                await open_node_chain(config, stack, chain=AsyncLocalChain(local))
        assert not key_file_exists(tmp_path)  # refused before the key file was made


def test_the_layout_is_told_by_the_params_version_and_the_reference_count() -> None:
    codes = {"proxy_code": contract_code("proxy"), "worker_code": contract_code("worker")}
    params = make_params(**codes, client_code=contract_code("client"))
    _, ours = data.root_state_init(contract_code("root"), CLIENT_OWNER, params)
    assert not is_reference_layout(ours)
    assert isinstance(parse_root(CLIENT_OWNER, ours), RegistrySnapshot)
    recorded = ref.parse_reference_root(cell("root_data_v4"))
    assert is_reference_layout(cell("root_data_v4"))
    newer = dataclasses.replace(
        recorded,
        params=dataclasses.replace(recorded.params, struct_version=5),
        verified_keys=VerifiedKeys(proxy_keys=frozenset({bytes(32)})),
    )
    assert is_reference_layout(newer.to_cell())
    assert parse_root(CLIENT_OWNER, newer.to_cell()) == newer
    # A public root still at params v3 is bit-for-bit one of ours (the documented limit): read as ours,
    # with the same proxies.
    older = dataclasses.replace(
        recorded, params=dataclasses.replace(recorded.params, struct_version=3), key_manager=None
    )
    assert not is_reference_layout(older.to_cell())
    snapshot = parse_root(CLIENT_OWNER, older.to_cell())
    assert isinstance(snapshot, RegistrySnapshot)
    assert snapshot.proxy_endpoints("client") == [RECORDED_PROXY]


async def test_long_auth_on_the_public_root_checks_the_proxys_contract_before_paying() -> None:
    """As the reference client: the proxy contract must be the one its owner and key make under the
    root; the recorded proxy's is, a proxy naming another contract is refused before any message."""
    contracts = reference_contracts(ref.parse_reference_root(cell("root_data_v4")), PUBLIC_ROOT)
    sender = Recorder(CLIENT_OWNER)
    auth = ChainLongAuth(RecordedClient(), sender, contracts)  # type: ignore[arg-type]
    honest = ProxyParams(PROXY_PUBLIC_KEY, ROOT_OWNER.raw, PROXY_CONTRACT.friendly(), False, 4)
    await auth.register(honest, CLIENT_CONTRACT.friendly(), nonce=7)
    [(dest, value, body)] = sender.sent  # deployed, secret synced, funded: only the register
    assert dest == CLIENT_CONTRACT and value == TON and body is not None
    assert body.begin_parse().load_uint(32) == Op.OWNER_CLIENT_REGISTER

    sender.sent.clear()
    elsewhere = ProxyParams(PROXY_PUBLIC_KEY, CLIENT_OWNER.raw, PROXY_CONTRACT.friendly(), False, 4)
    with pytest.raises(PaymentError, match="refusing to register with it"):
        await auth.register(elsewhere, CLIENT_CONTRACT.friendly(), nonce=8)
    assert sender.sent == [] and auth.registrations == 1


async def test_root_show_prints_a_public_root() -> None:
    """`cocoon root show` reads a public root too: what a user checks before pointing a client at it."""
    with public_root() as (local, root):
        async with served(local) as url:
            args = ["show", "--chain-url", url, "--root", root.friendly()]
            result = await asyncio.to_thread(CliRunner().invoke, root_cli, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "layout          public COCOON network (reference), params struct version 4" in out
    assert "version         87 (params version 17)" in out
    assert "price/token     20 nanoTON; worker fee 19 nanoTON" in out
    assert "min stakes      proxy 15 TON, client 15 TON" in out
    assert "#2 91.108.4.11:5222 91.108.4.11:8888" in out
    assert "key manager     (none); 0 keys" in out

"""The node bootstrap on the real contracts (official TON emulator, in process): the one start-up
path every role takes to the chain."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.errors import ChainError, ConfigError, WalletFundsError
from cocoon.node.chain import open_node_chain
from cocoon.node.keys import wallet_key_path
from cocoon.node.root import proxies_of, with_root_proxies
from cocoon.registry import RootOwner, local_params, register_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.data import ProxyEndpoints
from cocoon.ton.ops import TON
from cocoon.wallet import NodeWallet, WalletKey, WalletTimings, load_or_create_key_file

FAST = WalletTimings(
    resend_interval_s=0.05, poll_interval_s=0.01, inclusion_timeout_s=5.0, batch_window_s=0.0
)


@pytest.fixture
def chain() -> AsyncLocalChain:
    return AsyncLocalChain(LocalChain(None, now=1_750_000_000))


@pytest.fixture
async def owner(chain: AsyncLocalChain) -> RootOwner:
    key = WalletKey(b"\x21" * 32)
    chain.chain.fund(key.address, 10 * TON)
    params = local_params(price_per_token=20, worker_fee_per_token=19)
    return await RootOwner.deploy(chain, NodeWallet(chain, key, FAST), params)


@pytest.mark.parametrize("kind", [WorkerConfig, ClientConfig, ProxyConfig])
async def test_every_role_starts_on_the_chain_through_the_same_bootstrap(
    chain: AsyncLocalChain, owner: RootOwner, tmp_path: Path, kind: type[WorkerConfig]
) -> None:
    config = kind(chain_url="http://unused.invalid", root_address=owner.root.raw, data_dir=str(tmp_path))
    key = load_or_create_key_file(wallet_key_path(str(tmp_path)))
    async with AsyncExitStack() as stack:
        with pytest.raises(WalletFundsError, match=f"raw {key.address.raw}") as refused:
            await open_node_chain(config, stack, chain=chain, timings=FAST)
        assert refused.value.missing_nano > 2 * TON
    chain.chain.fund(key.address, 3 * TON)
    async with AsyncExitStack() as stack:
        node = await open_node_chain(config, stack, chain=chain, timings=FAST)
        assert node.wallet.address == key.address  # the key file in data_dir, not a new one
        assert node.root == owner.root and node.registry.version == 0
        assert node.registry.params.price_per_token == 20


def test_the_wallet_key_setting_wins_over_the_data_dir(tmp_path: Path) -> None:
    assert wallet_key_path(str(tmp_path)) == tmp_path / "wallet.key"
    assert wallet_key_path(str(tmp_path), "~/elsewhere.key") == Path("~/elsewhere.key").expanduser()
    assert wallet_key_path("") == Path("wallet.key")


async def test_a_missing_or_wrong_root_is_a_clear_error(chain: AsyncLocalChain, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        with pytest.raises(ConfigError, match="root_address is required"):
            await open_node_chain(WorkerConfig(chain_url="x"), stack, chain=chain)
        with pytest.raises(ConfigError, match="is not a TON address"):
            await open_node_chain(WorkerConfig(chain_url="x", root_address="nope"), stack, chain=chain)
        nowhere = Address(0, b"\x01" * 32).raw
        with pytest.raises(ChainError, match="cocoon root deploy"):
            await open_node_chain(WorkerConfig(chain_url="x", root_address=nowhere), stack, chain=chain)


async def test_workers_and_clients_take_their_proxies_from_the_root_read_at_start(
    chain: AsyncLocalChain, owner: RootOwner, tmp_path: Path
) -> None:
    config = WorkerConfig(
        chain_url="http://unused.invalid", root_address=owner.root.raw, data_dir=str(tmp_path)
    )
    chain.chain.fund(load_or_create_key_file(wallet_key_path(str(tmp_path))).address, 3 * TON)
    async with AsyncExitStack() as stack:
        node = await open_node_chain(config, stack, chain=chain, timings=FAST)
        with pytest.raises(ConfigError, match="no proxies yet"):
            with_root_proxies(config, "worker", node)
    await owner.apply([register_proxy(ProxyEndpoints("10.0.0.1:1", "10.0.0.1:2"))])
    async with AsyncExitStack() as stack:
        node = await open_node_chain(config, stack, chain=chain, timings=FAST)
        assert with_root_proxies(config, "worker", node).proxies == ["10.0.0.1:1"]
        assert proxies_of(node.registry, "client") == ["10.0.0.1:2"]
    assert with_root_proxies(config, "worker", None) is config


async def test_a_node_on_testnet_asks_for_funds_at_its_testnet_address(
    chain: AsyncLocalChain, owner: RootOwner, tmp_path: Path
) -> None:
    root = owner.root.friendly(testnet=True)
    config = WorkerConfig(
        chain_url="http://unused.invalid", root_address=root, testnet=True, data_dir=str(tmp_path)
    )
    key = load_or_create_key_file(wallet_key_path(str(tmp_path)))
    async with AsyncExitStack() as stack:
        with pytest.raises(WalletFundsError) as refused:
            await open_node_chain(config, stack, chain=chain, timings=FAST)
    assert refused.value.address == key.address.friendly(bounceable=False, testnet=True)
    assert key.address.friendly(bounceable=False) not in str(refused.value)  # no mainnet form to paste

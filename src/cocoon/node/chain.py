"""The chain side of a node's start, written once for every role.

:func:`open_node_chain` runs the bootstrap of a node on a chain (``chain_url``, or ``chain = "lite"`` with
``ton_config``; :mod:`cocoon.ton.backend` picks the adapter and its request rate): the chain adapter, the
root's registry (read first: a wrong ``root_address`` fails before any wallet work), the wallet key
file, the node wallet and its funding check. Workers, clients and proxies build their payment side
from the :class:`NodeChain` it returns; everything it opened closes with the caller's exit stack.

A client may also be pointed at a root of the public COCOON network (:mod:`cocoon.node.public_root`):
:func:`open_client_chain` then returns a :class:`~cocoon.node.public_root.PublicNodeChain`; workers
and proxies refuse such a root with what to do.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ChainDataError, ConfigError
from cocoon.node.keys import wallet_key_path
from cocoon.node.public_root import PublicNodeChain, read_root
from cocoon.node.running import NodeDeps
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address, show
from cocoon.ton.backend import ChainChoice, choose_chain
from cocoon.ton.chain import Chain
from cocoon.wallet import NodeWallet, WalletTimings, load_or_create_key_file

NodeConfig = WorkerConfig | ClientConfig | ProxyConfig

log = logging.getLogger(__name__)


def wallet_timings(config: NodeConfig) -> WalletTimings:
    """The node wallet's timings: WalletTimings' defaults, polling every ``wallet_poll_interval_s``."""
    return WalletTimings(poll_interval_s=config.wallet_poll_interval_s)


def chain_choice(config: NodeConfig) -> ChainChoice | None:
    """The backend the node's settings select (None: no chain); ConfigError if they do not fit."""
    return choose_chain(
        config.chain, config.chain_url, config.chain_api_key, config.chain_rate_per_s, config.ton_config
    )


@dataclass(frozen=True)
class NodeChain:
    """What a node on a chain has once started: the chain, its funded wallet and the root it follows."""

    chain: Chain
    wallet: NodeWallet
    """The node wallet (its key: ``wallet.key``)."""
    root: Address
    registry: RegistrySnapshot
    """The root's registry as read at start (prices, allowed hashes, proxies)."""


def root_of(config: NodeConfig) -> Address:
    """The root contract address of a node's config (ConfigError if it is missing or not one)."""
    if not config.root_address:
        raise ConfigError(
            "root_address is required with chain_url: the root contract holds the network params"
        )
    try:
        return Address.parse(config.root_address)
    except ChainDataError as exc:
        raise ConfigError(f"root_address {config.root_address!r} is not a TON address") from exc


async def open_chain(config: NodeConfig, stack: AsyncExitStack) -> Chain:
    """The chain adapter the settings select (:func:`chain_choice`), closed with ``stack``."""
    choice = chain_choice(config)
    if choice is None:
        raise ConfigError("this node has no chain: set chain_url (or chain = 'lite' with ton_config)")
    if choice.backend == "lite":
        from cocoon.chainsvc.lite import LiteChain

        lite = await LiteChain.connect_file(choice.ton_config)
        stack.push_async_callback(lite.close)
        log.info("chain: liteservers of %s", choice.ton_config)
        return lite
    from cocoon.chainsvc.toncenter import ToncenterChain

    limit = f"{choice.rate_per_s:g} requests/s" if choice.rate_per_s else "no rate limit"
    log.info("chain: %s API at %s (%s)", choice.backend, choice.url, limit)
    return await stack.enter_async_context(
        ToncenterChain(choice.url, api_key=choice.api_key or None, rate_per_s=choice.rate_per_s)
    )


def has_chain(config: NodeConfig) -> bool:
    """Whether the node runs on a chain (``chain_url`` set, or liteservers chosen)."""
    return bool(config.chain_url) or config.chain == "lite" or bool(config.ton_config)


async def open_node_chain(
    config: NodeConfig,
    stack: AsyncExitStack,
    *,
    chain: Chain | None = None,
    timings: WalletTimings | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> NodeChain:
    """Chain, root registry, wallet key and funded node wallet of a node with ``chain_url`` set.

    ``chain`` replaces the adapter ``chain_url`` names (tests pass the in-process local chain).
    Raises `ConfigError` for a missing/bad root address or a root of the public COCOON network
    (only clients use those: :func:`open_client_chain`), `ChainError` if no root lives there and
    `WalletFundsError` (saying how much to send where) if the wallet holds too little to start.
    """
    node = await _open(config, stack, chain, timings or wallet_timings(config), clock, public_ok=False)
    assert isinstance(node, NodeChain)  # _open refused a public root
    return node


async def open_client_chain(
    config: ClientConfig, stack: AsyncExitStack, deps: NodeDeps
) -> NodeChain | PublicNodeChain | None:
    """A client's :func:`open_node_chain_if_any`, which also accepts a root of the public COCOON
    network (then a :class:`PublicNodeChain`)."""
    if not has_chain(config):
        return None
    return await _open(config, stack, deps.chain, wallet_timings(config), deps.clock, public_ok=True)


async def _open(
    config: NodeConfig,
    stack: AsyncExitStack,
    chain: Chain | None,
    timings: WalletTimings,
    clock: Clock,
    *,
    public_ok: bool,
) -> NodeChain | PublicNodeChain:
    root = root_of(config)
    if chain is None:
        chain = await open_chain(config, stack)
    registry = await read_root(chain, root)  # first: a wrong root_address fails before wallet work
    if not public_ok and not isinstance(registry, RegistrySnapshot):
        raise ConfigError(
            f"root_address {config.root_address} is a root of the public COCOON network (params "
            f"v{registry.params.struct_version}); only a client can use it (it speaks COCOON's "
            "protocol to the proxies registered there). Point root_address at a root of ours "
            "(`cocoon root deploy`)"
        )
    key = load_or_create_key_file(wallet_key_path(config.data_dir, config.wallet_key))
    wallet = NodeWallet(chain, key, timings, clock)
    wallet.testnet = config.testnet  # the funding error shows the address a testnet wallet app takes
    stack.push_async_callback(wallet.close)
    await wallet.ensure_funded()
    log.info("node wallet %s, root %s", wallet.friendly_address, show(root, testnet=config.testnet))
    if isinstance(registry, RegistrySnapshot):
        return NodeChain(chain, wallet, root, registry)
    return PublicNodeChain(chain, wallet, root, registry)


async def open_node_chain_if_any(
    config: NodeConfig, stack: AsyncExitStack, deps: NodeDeps
) -> NodeChain | None:
    """:func:`open_node_chain` for a node with ``chain_url`` set, with ``deps``' chain and clock;
    None for a node without a chain (off-chain credit, local tries)."""
    if not has_chain(config):
        return None
    return await open_node_chain(config, stack, chain=deps.chain, clock=deps.clock)

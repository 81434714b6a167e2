"""How nodes use the root: workers and clients take their proxies from it, not from a config file,
and follow it: every version change (a proxy registered or removed, hashes allowed) applies at once.

A node on a chain (``chain_url`` and ``root_address`` set) connects to the proxies registered in the
root; the ``proxies`` config key is only for nodes without a chain.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

from cocoon.attestation.policy import AttestationPolicy, Policy
from cocoon.errors import ChainDataError, ConfigError
from cocoon.net.proxy_links import ProxyLinks
from cocoon.registry.reader import RegistryWatcher, read_registry
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain

log = logging.getLogger(__name__)

C = TypeVar("C", WorkerConfig, ClientConfig)


async def root_proxies(chain: Chain, root: Address, role: Literal["worker", "client"]) -> list[str]:
    """``host:port`` of the proxies registered in ``root``, for ``role``; ConfigError if there are none."""
    snapshot = await read_registry(chain, root)
    endpoints = snapshot.proxy_endpoints(role)
    if not endpoints:
        raise ConfigError(
            f"the root {root.raw} lists no proxies yet; its owner registers one with "
            "`cocoon root register-proxy`"
        )
    return endpoints


def root_of(config: WorkerConfig | ClientConfig | ProxyConfig) -> Address:
    """The root contract address of a node's config (ConfigError if it is not one)."""
    try:
        return Address.parse(config.root_address)
    except ChainDataError as exc:
        raise ConfigError(f"root_address {config.root_address!r} is not a TON address") from exc


async def read_root(config: WorkerConfig | ClientConfig | ProxyConfig) -> RegistrySnapshot:
    """The registry now, read through the node's ``chain_url``."""
    from cocoon.chainsvc.toncenter import ToncenterChain

    async with ToncenterChain(config.chain_url) as chain:
        return await read_registry(chain, root_of(config))


async def with_root_proxies(config: C, role: Literal["worker", "client"]) -> C:
    """``config`` with ``proxies`` read from its root contract, or unchanged for a node without a chain."""
    if not (config.chain_url and config.root_address):
        return config
    from cocoon.chainsvc.toncenter import ToncenterChain

    root = root_of(config)
    async with ToncenterChain(config.chain_url) as chain:
        proxies = await root_proxies(chain, root, role)
    log.info("proxies from root %s: %s", root.raw, ", ".join(proxies))
    return msgspec.structs.replace(config, proxies=proxies)


async def follow_root(
    config: WorkerConfig | ClientConfig | ProxyConfig,
    on_change: Callable[[RegistrySnapshot], None],
    *,
    interval_s: float = 5.0,
) -> None:
    """Call ``on_change`` with the root's registry now and after every version change, until cancelled.

    Returns at once for a node without a chain (nothing to follow).
    """
    if not (config.chain_url and config.root_address):
        return
    from cocoon.chainsvc.toncenter import ToncenterChain

    async with ToncenterChain(config.chain_url) as chain:
        await RegistryWatcher(
            chain, Address.parse(config.root_address), on_change, interval_s=interval_s
        ).run()


def proxies_follower(
    links: ProxyLinks, role: Literal["worker", "client"]
) -> Callable[[RegistrySnapshot], None]:
    """An ``on_change`` that keeps ``links`` connected to the proxies the root lists for ``role``."""

    def on_change(snapshot: RegistrySnapshot) -> None:
        endpoints = snapshot.proxy_endpoints(role)
        if endpoints:
            links.update(endpoints)
        else:
            log.warning("root version %d lists no proxies; keeping the current ones", snapshot.version)

    return on_change


def proxy_images_follower(policy: Policy) -> Callable[[RegistrySnapshot], None]:
    """An ``on_change`` that makes ``policy`` accept exactly the proxy images the root allows.

    For workers and clients whose config lists no proxy image hashes of its own. A policy that checks
    no attestation (``any``) has nothing to follow.
    """

    def on_change(snapshot: RegistrySnapshot) -> None:
        if isinstance(policy, AttestationPolicy):
            images = frozenset(h.to_bytes(32, "big") for h in snapshot.proxy_hashes)
            policy.allowlists = dataclasses.replace(policy.allowlists, image_hashes=images)

    return on_change


def all_of(*callbacks: Callable[[RegistrySnapshot], None]) -> Callable[[RegistrySnapshot], None]:
    """One ``on_change`` calling each of ``callbacks`` in order."""

    def on_change(snapshot: RegistrySnapshot) -> None:
        for callback in callbacks:
            callback(snapshot)

    return on_change


async def root_follower(
    config: WorkerConfig | ClientConfig,
    role: Literal["worker", "client"],
    links: ProxyLinks,
    proxy_policy: Policy,
) -> Callable[[RegistrySnapshot], None] | None:
    """What a worker or client follows in its root: the proxy list and, unless its config pins its
    own, the allowed proxy images (applied now, before the first connection). None without a chain."""
    if not (config.chain_url and config.root_address):
        return None
    followers = [proxies_follower(links, role)]
    if not config.allowed_proxy_image_hashes:
        images = proxy_images_follower(proxy_policy)
        images(await read_root(config))
        followers.append(images)
    return all_of(*followers)

"""How nodes follow the root: workers and clients take their proxies from it, not from a config file,
and every version change (a proxy registered or removed, hashes allowed) applies at once.

A node on a chain (``chain_url`` and ``root_address`` set) connects to the proxies registered in the
root; the ``proxies`` config key is only for nodes without a chain. Everything here reads through
the node's own :class:`~cocoon.node.chain.NodeChain`, opened once at start.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

from cocoon.attestation.policy import AttestationPolicy, Policy
from cocoon.errors import ConfigError
from cocoon.net.proxy_links import ProxyLinks
from cocoon.node.chain import NodeChain
from cocoon.registry.reader import RegistryWatcher, read_registry
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import ClientConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain

log = logging.getLogger(__name__)

C = TypeVar("C", WorkerConfig, ClientConfig)
Role = Literal["worker", "client"]
OnChange = Callable[[RegistrySnapshot], None]


def proxies_of(snapshot: RegistrySnapshot, role: Role) -> list[str]:
    """``host:port`` of the proxies ``snapshot`` lists for ``role``; ConfigError if there are none."""
    endpoints = snapshot.proxy_endpoints(role)
    if not endpoints:
        raise ConfigError(
            f"the root {snapshot.root.raw} lists no proxies yet; its owner registers one with "
            "`cocoon root register-proxy`"
        )
    return endpoints


async def root_proxies(chain: Chain, root: Address, role: Role) -> list[str]:
    """:func:`proxies_of` the root's registry read now."""
    return proxies_of(await read_registry(chain, root), role)


def with_root_proxies(config: C, role: Role, node: NodeChain | None) -> C:
    """``config`` with ``proxies`` from the root the node read at start; unchanged without a chain."""
    if node is None:
        return config
    proxies = proxies_of(node.registry, role)
    log.info("proxies from root %s: %s", node.root.raw, ", ".join(proxies))
    return msgspec.structs.replace(config, proxies=proxies)


async def follow_root(node: NodeChain, on_change: OnChange, *, interval_s: float = 5.0) -> None:
    """Call ``on_change`` with the root's registry now and after every version change, until cancelled."""
    await RegistryWatcher(node.chain, node.root, on_change, interval_s=interval_s).run()


def proxies_follower(links: ProxyLinks, role: Role) -> OnChange:
    """An ``on_change`` that keeps ``links`` connected to the proxies the root lists for ``role``."""

    def on_change(snapshot: RegistrySnapshot) -> None:
        endpoints = snapshot.proxy_endpoints(role)
        if endpoints:
            links.update(endpoints)
        else:
            log.warning("root version %d lists no proxies; keeping the current ones", snapshot.version)

    return on_change


def proxy_images_follower(policy: Policy) -> OnChange:
    """An ``on_change`` that makes ``policy`` accept exactly the proxy images the root allows.

    For workers and clients whose config lists no proxy image hashes of its own. A policy that checks
    no attestation (``any``) has nothing to follow.
    """

    def on_change(snapshot: RegistrySnapshot) -> None:
        if isinstance(policy, AttestationPolicy):
            images = frozenset(h.to_bytes(32, "big") for h in snapshot.proxy_hashes)
            policy.allowlists = dataclasses.replace(policy.allowlists, image_hashes=images)

    return on_change


def all_of(*callbacks: OnChange) -> OnChange:
    """One ``on_change`` calling each of ``callbacks`` in order."""

    def on_change(snapshot: RegistrySnapshot) -> None:
        for callback in callbacks:
            callback(snapshot)

    return on_change


def root_follower(
    config: WorkerConfig | ClientConfig, role: Role, links: ProxyLinks, proxy_policy: Policy, node: NodeChain
) -> OnChange:
    """What a worker or client follows in its root: the proxy list and, unless its config pins its
    own, the allowed proxy images (applied now from the registry read at start, before the first
    connection)."""
    followers = [proxies_follower(links, role)]
    if not config.allowed_proxy_image_hashes:
        images = proxy_images_follower(proxy_policy)
        images(node.registry)
        followers.append(images)
    return all_of(*followers)

"""How workers and clients use the root at start: their proxies come from it, not from a config file.

A node on a chain (``chain_url`` and ``root_address`` set) connects to the proxies registered in the
root; the ``proxies`` config key is only for nodes without a chain.
"""

from __future__ import annotations

import logging
from typing import Literal, TypeVar

import msgspec

from cocoon.errors import ChainDataError, ConfigError
from cocoon.registry.reader import read_registry
from cocoon.roles import ClientConfig, WorkerConfig
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


async def with_root_proxies(config: C, role: Literal["worker", "client"]) -> C:
    """``config`` with ``proxies`` read from its root contract, or unchanged for a node without a chain."""
    if not (config.chain_url and config.root_address):
        return config
    from cocoon.chainsvc.toncenter import ToncenterChain

    try:
        root = Address.parse(config.root_address)
    except ChainDataError as exc:
        raise ConfigError(f"root_address {config.root_address!r} is not a TON address") from exc
    async with ToncenterChain(config.chain_url) as chain:
        proxies = await root_proxies(chain, root, role)
    log.info("proxies from root %s: %s", root.raw, ", ".join(proxies))
    return msgspec.structs.replace(config, proxies=proxies)

"""The proxy's composition root: every collaborator of a proxy is made and joined here, once.

:func:`build_proxy` opens the ledger, the chain side (with ``chain_url``: node wallet, root registry,
the proxy contract's settlement, ready before the first client), the worker admission (the config's
allowlists, or the root's, followed), the RA-TLS identity and both listeners, starts the stats HTTP
server and yields a :class:`~cocoon.node.running.RunningNode`. ``cocoon proxy run`` calls it; tests
call it with :class:`~cocoon.node.running.NodeDeps` fakes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from cocoon.node.admin_token import AdminToken
from cocoon.node.admission import AllowlistSource, ConfigAllowlist, RegistryAllowlist, WorkerAdmission
from cocoon.node.chain import NodeChain, open_node_chain_if_any
from cocoon.node.demo_vectors import apply_demo
from cocoon.node.http import serve_node_http
from cocoon.node.identity import config_claims, node_identity
from cocoon.node.policy import make_policy, node_collateral
from cocoon.node.root import OnChange, follow_root
from cocoon.node.running import REAL_DEPS, NodeDeps, RunningNode
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService, ledger_path, make_stats_app
from cocoon.proxy.settlement import open_settlement
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import ProxyConfig

log = logging.getLogger(__name__)


def worker_allowlist(config: ProxyConfig, node: NodeChain | None) -> tuple[AllowlistSource, OnChange | None]:
    """Which workers the proxy admits: its config's allowlists when it lists any, else (on a chain)
    the root's hash sets, read at start and followed through the returned ``on_change``."""
    lists = (
        config.allowed_worker_image_hashes,
        config.allowed_worker_mrtds,
        config.allowed_model_hashes,
        config.allowed_worker_rtmrs,
    )
    if node is None or any(lists):
        return ConfigAllowlist(*lists), None
    first = node.registry
    from_root = RegistryAllowlist(first)

    def on_change(snapshot: RegistrySnapshot) -> None:
        from_root.update(snapshot)
        if snapshot.params_version != first.params_version:
            log.warning(
                "the root's params changed (version %d -> %d): this proxy's contract keeps the old "
                "prices; close it (`cocoon proxy close`) and restart to deploy one under the new params",
                first.params_version,
                snapshot.params_version,
            )

    return from_root, on_change


def _root_follower(service: ProxyService, node: NodeChain, on_registry: OnChange | None) -> OnChange | None:
    """What follows the root: the worker allowlist (``on_registry``) and the root version the COCOON
    port compares clients' ``min_config_version`` with."""
    port = service.cocoon_port
    if port is None:
        return on_registry
    port.root_version = node.registry.version

    def on_change(snapshot: RegistrySnapshot) -> None:
        port.root_version = snapshot.version
        if on_registry is not None:
            on_registry(snapshot)

    return on_change


@asynccontextmanager
async def build_proxy(
    config: ProxyConfig, deps: NodeDeps = REAL_DEPS
) -> AsyncIterator[RunningNode[ProxyService]]:
    """A proxy built from ``config``, listening; everything it opened closes when the ``async with``
    ends, in reverse: HTTP, listeners, settlement and wallet, chain, ledger."""
    deps, replay = apply_demo(config.quote_provider, deps, present_quote=False)
    admin = AdminToken.of_data_dir(config.data_dir)  # made at first start; a bad one fails before any I/O
    async with AsyncExitStack() as stack:
        ledger = Ledger(ledger_path(config.data_dir))
        stack.callback(ledger.close)
        node = await open_node_chain_if_any(config, stack, deps)
        allowlist, on_registry = worker_allowlist(config, node)
        collateral = node_collateral(config.pccs_url, config.collateral_files)
        worker_policy = WorkerAdmission(
            make_policy(config.worker_policy, collateral=collateral, replay=replay), allowlist
        )
        identity = node_identity(config, deps, claims=config_claims(config))
        settlement = (
            await open_settlement(config, ledger, node, clock=deps.clock) if node is not None else None
        )
        service = ProxyService(
            config,
            identity,
            worker_policy,
            make_policy(config.client_policy, collateral=collateral, replay=replay),
            ledger,
            settlement,
            clock=deps.clock,
        )
        await service.start()
        stack.push_async_callback(service.aclose)
        running = RunningNode(service, 0, [service.refresh])
        if settlement is not None:
            running.jobs.append(lambda: settlement.run(service.workers))
            # a close waits until the requests being answered are counted
            settlement.closer.requests_running = lambda: sum(link.active for link in service.workers)
        if node is not None and (follow := _root_follower(service, node, on_registry)) is not None:
            running.jobs.append(lambda: follow_root(node, follow, interval_s=config.root_poll_interval_s))
        # Stats and admin on their own address (loopback by default), the admin POSTs behind the token.
        running.http_port = await serve_node_http(
            make_stats_app(service, admin), config.admin_host, config.http_port, stack
        )
        yield running

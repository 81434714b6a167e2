"""The proxy's composition root: every collaborator of a proxy is made and joined here, once.

:func:`build_proxy` opens the ledger, the chain side (with ``chain_url``: node wallet, root registry,
the proxy contract's settlement, ready before the first client, moved to a new contract when the root's
params rise: :mod:`.redeploy`), the worker admission (the config's allowlists, or the root's,
followed), the RA-TLS identity and both listeners, starts the stats HTTP server and yields a
:class:`~cocoon.node.running.RunningNode`. ``cocoon proxy run`` calls it; tests
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
from cocoon.node.params_move import ParamsFollower
from cocoon.node.policy import make_policy, node_collateral
from cocoon.node.root import OnChange, follow_root
from cocoon.node.running import REAL_DEPS, NodeDeps, RunningNode
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.redeploy import Redeployer
from cocoon.proxy.service import ProxyService, ledger_path, make_stats_app
from cocoon.proxy.settlement import ProxySettlement, open_settlement
from cocoon.proxy.settlement.start import make_settlement, resume_closes
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.roles import ProxyConfig
from cocoon.ton.params import Params

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

    return from_root, from_root.update


def _root_follower(service: ProxyService, node: NodeChain, *followers: OnChange | None) -> OnChange:
    """What follows the root: the worker allowlist and the params (``followers``) and the root version
    the COCOON port compares clients' ``min_config_version`` with."""
    port = service.cocoon_port
    if port is not None:
        port.root_version = node.registry.version

    def on_change(snapshot: RegistrySnapshot) -> None:
        if port is not None:
            port.root_version = snapshot.version
        for follower in followers:
            if follower is not None:
                follower(snapshot)

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
        on_params: OnChange | None = None
        if node is not None and settlement is not None:
            chain = node

            def make(params: Params) -> ProxySettlement:
                return make_settlement(config, ledger, chain, params, clock=deps.clock)

            redeploy = Redeployer(service, settlement, make)
            for old in await resume_closes(config, ledger, node, settlement, clock=deps.clock):
                redeploy.close_later(old)
            service.old_contracts = redeploy.stats
            params = ParamsFollower(node.registry, redeploy.move)
            on_params = params.on_change
            running.jobs += [redeploy.run, params.run]
        if node is not None:
            follow = _root_follower(service, node, on_registry, on_params)
            interval = config.root_poll_interval_s
            running.jobs.append(lambda: follow_root(node, follow, interval_s=interval))
        # Stats and admin on their own address (loopback by default), the admin POSTs behind the token.
        running.http_port = await serve_node_http(
            make_stats_app(service, admin), config.admin_host, config.http_port, stack
        )
        yield running

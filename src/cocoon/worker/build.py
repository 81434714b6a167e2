"""The worker's composition root: every collaborator of a worker is made and joined here, once.

:func:`build_worker` opens the engine client, the chain side (with ``chain_url``: node wallet, root
registry, worker contracts per proxy), the RA-TLS identity and the proxy policy, starts the stats
HTTP server and yields a :class:`~cocoon.node.running.RunningNode` whose ``run()`` serves until
cancelled. ``cocoon worker run`` calls it; tests call it with :class:`WorkerDeps` fakes. Before any of
that, an ``engine_url`` outside loopback is refused unless ``engine_remote_ok``
(:func:`ensure_local_engine`, :mod:`cocoon.worker.engine_locality`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cocoon.e2e.keyring import Keyring
from cocoon.engine.protocol import Engine
from cocoon.engine.responses_bridge import ResponsesBridge
from cocoon.node.admin_token import AdminToken
from cocoon.node.chain import NodeChain, open_node_chain_if_any
from cocoon.node.demo_vectors import apply_demo
from cocoon.node.http import serve_node_http
from cocoon.node.identity import node_identity
from cocoon.node.params_move import ParamsFollower
from cocoon.node.policy import node_collateral, proxy_policy
from cocoon.node.root import all_of, follow_root, root_follower, with_root_proxies
from cocoon.node.running import NodeDeps, RunningNode
from cocoon.payments.thresholds import Thresholds
from cocoon.roles import WorkerConfig
from cocoon.worker.engine_locality import check_resolved, engine_host, engine_refusal, literal_locality
from cocoon.worker.payouts import WorkerPayouts
from cocoon.worker.service import WorkerService, make_stats_app

PAYOUTS_FILE = "payouts.json"
log = logging.getLogger(__name__)

Resolve = Callable[[str], Awaitable[Sequence[str]]]
"""A host name's addresses (empty when it does not resolve)."""


async def resolve_host(host: str) -> Sequence[str]:
    """The addresses the system resolver gives ``host`` (empty when it does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        log.warning("engine host %s does not resolve: %s", host, exc)
        return []
    return [str(info[4][0]) for info in infos]


async def ensure_local_engine(config: WorkerConfig, resolve: Resolve = resolve_host) -> None:
    """Refuse (ConfigError) an engine outside this machine's loopback unless ``engine_remote_ok`` says it
    runs inside the same attested VM (:mod:`cocoon.worker.engine_locality`)."""
    url = config.engine_url
    host = engine_host(url)
    local = literal_locality(host)
    if config.engine_remote_ok:
        if local is not True:
            log.warning(
                "engine_url %s is not loopback; engine_remote_ok = true says it runs inside this attested VM "
                "(prompts reach it in plain HTTP)",
                url,
            )
        return
    if local is False:
        raise engine_refusal(url, host, None)
    if local is None:
        check_resolved(url, host, await resolve(host))


@dataclass(frozen=True)
class WorkerDeps(NodeDeps):
    """A worker's :class:`~cocoon.node.running.NodeDeps` and its engine (``None``: the HTTP client of
    ``engine_url``)."""

    engine: Engine | None = None


def worker_payouts(config: WorkerConfig, node: NodeChain) -> WorkerPayouts:
    """The worker's payment channels on ``node``'s chain, at the config's cash-out thresholds."""
    thresholds = Thresholds(
        worker_payout_nano=config.cash_out_threshold_nano,
        worker_idle_payout_nano=config.idle_cash_out_threshold_nano,
    )
    payouts = WorkerPayouts(
        node.chain,
        node.wallet,
        node.registry.chain_params,
        thresholds=thresholds,
        state_path=Path(config.data_dir or ".").expanduser() / PAYOUTS_FILE,
    )
    payouts.interval_s = config.cash_out_interval_s
    return payouts


async def _engine(config: WorkerConfig, deps: WorkerDeps, stack: AsyncExitStack) -> Engine:
    if deps.engine is not None:
        return deps.engine
    from cocoon.engine.client import EngineClient

    return await stack.enter_async_context(EngineClient(config.engine_url))


@asynccontextmanager
async def build_worker(
    config: WorkerConfig, deps: WorkerDeps = WorkerDeps()
) -> AsyncIterator[RunningNode[WorkerService]]:
    """A worker built from ``config``; everything it opened closes when the ``async with`` ends."""
    if deps.engine is None:  # before anything else: prompts never go to an engine outside the VM
        await ensure_local_engine(config)
    deps, replay = apply_demo(config.quote_provider, deps, present_quote=True)
    admin = AdminToken.of_data_dir(config.data_dir)  # made at first start; a bad one fails before any I/O
    async with AsyncExitStack() as stack:
        node = await open_node_chain_if_any(config, stack, deps)
        config = with_root_proxies(config, "worker", node)  # on a chain, the root lists the proxies
        collateral = node_collateral(config.pccs_url, config.collateral_files)
        policy = proxy_policy(
            config.proxy_policy, config.allowed_proxy_image_hashes, collateral=collateral, replay=replay
        )
        # The end-to-end keys live in memory only: a new pair at every certificate issue.
        identity = node_identity(config, deps, keyring=Keyring(os.urandom))
        # The Responses API on every engine: natively, or translated onto its chat completions.
        engine = ResponsesBridge(await _engine(config, deps, stack), clock=deps.clock)
        payouts = worker_payouts(config, node) if node is not None else None
        service = WorkerService(config, engine, identity, policy, payouts, clock=deps.clock)
        running = RunningNode(service, 0, [service.run])
        if node is not None:
            # A rise of the root's params_version moves the worker to new worker contracts.
            params = ParamsFollower(node.registry, service.move_params)
            follower = all_of(root_follower(config, "worker", service.links, policy, node), params.on_change)
            interval = config.root_poll_interval_s
            running.jobs.append(lambda: follow_root(node, follower, interval_s=interval))
            running.jobs.append(params.run)
        # Stats and admin on their own address (loopback by default), the admin POSTs behind the token.
        running.http_port = await serve_node_http(
            make_stats_app(service, admin), config.admin_host, config.http_port, stack
        )
        yield running

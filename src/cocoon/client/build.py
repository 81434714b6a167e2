"""The client daemon's composition root: every collaborator of a client is made and joined here, once.

:func:`build_client` opens the chain side (with ``chain_url``: node wallet, root registry, client
contracts per proxy), the RA-TLS identity, the proxy policy (attestation plus signed statements),
the worker policy end-to-end candidates must pass (the config's allowlists, or the root's, followed),
the proxy pool, the receipt book and the OpenAI HTTP API, and yields a
:class:`~cocoon.node.running.RunningNode` whose ``run()`` keeps the proxy connections until
cancelled. ``cocoon client run`` calls it; tests call it with :class:`~cocoon.node.running.NodeDeps` fakes.

A ``root_address`` of the public COCOON network (the reference's layout) is accepted too: the client
then speaks COCOON to the proxies registered there (`cocoon.client.public_network`), derives its
client contracts with the reference's layout and prices answers at that root's price.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cocoon.api.validation import Limits
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.statement_policy import StatementPolicy, StatementRequirements
from cocoon.client.access import access_control, is_loopback
from cocoon.client.admin_app import make_client_admin_app
from cocoon.client.cocoon_auth import CocoonAccount
from cocoon.client.cocoon_proxy import CocoonProxies
from cocoon.client.cocoon_register import ChainLongAuth, our_contracts, reference_contracts
from cocoon.client.e2e_workers import E2EWorkers
from cocoon.client.fast_lane import FastLaneSite
from cocoon.client.http_api import SERVING_KEY, lane_of, make_client_app
from cocoon.client.network import ProxyPool
from cocoon.client.payment_routes import add_payment_routes
from cocoon.client.payments import ClientPayments
from cocoon.client.public_network import on_public_root
from cocoon.client.receipts import ReceiptBook
from cocoon.clock import Clock
from cocoon.node.admin_token import AdminToken
from cocoon.node.admission import RegistryAllowlist, WorkerAdmission, followed_allowlist
from cocoon.node.chain import NodeChain, open_client_chain
from cocoon.node.demo_vectors import apply_demo
from cocoon.node.http import serve_node_http
from cocoon.node.identity import node_identity
from cocoon.node.params_move import ParamsFollower
from cocoon.node.policy import make_policy, node_collateral, proxy_policy
from cocoon.node.public_root import PublicNodeChain
from cocoon.node.root import all_of, follow_root, root_follower, with_root_proxies
from cocoon.node.running import REAL_DEPS, NodeDeps, RunningNode
from cocoon.roles import ClientConfig

RETIRING_FILE = "retiring.json"
"""The client contracts under old params still being closed (:mod:`cocoon.client.retire`)."""
if TYPE_CHECKING:
    from cocoon.attestation.tdx_policy import ReplayMode
    from cocoon.net.collateral import CollateralKeeper


def admin_listen_port(config: ClientConfig) -> int:
    """The port of the client's separate stats/admin server (-1: none, the payment routes sit beside
    the API): ``admin_port``; when the API listens beyond loopback and none is set, ``http_port`` + 1
    (any free port for an ``http_port`` of 0), so routes that move money are never on a public
    listener."""
    if config.admin_port >= 0 or is_loopback(config.api_listen_host):
        return config.admin_port
    return config.http_port + 1 if config.http_port else 0


def client_payments(config: ClientConfig, node: NodeChain) -> ClientPayments:
    """The client's contracts on ``node``'s chain, topped up as the config says."""
    payments = ClientPayments(
        node.chain,
        node.wallet,
        node.registry.chain_params,
        node.wallet.key.secret_key,
        auto_top_up=config.auto_top_up,
        top_up_nano=config.top_up_nano,
        retiring_path=Path(config.data_dir).expanduser() / RETIRING_FILE if config.data_dir else None,
    )
    payments.interval_s = config.payments_interval_s
    return payments


def e2e_workers(
    config: ClientConfig,
    node: NodeChain | None,
    clock: Clock,
    *,
    collateral: CollateralKeeper | None = None,
    replay: ReplayMode | None = None,
) -> tuple[E2EWorkers | None, RegistryAllowlist | None]:
    """The end-to-end candidates' worker policy and verdicts (None with ``e2e = "off"``), and the
    root's allowlists to follow when the config lists none of its own (on a chain)."""
    if config.e2e == "off":
        return None, None
    allowlist, from_root = followed_allowlist(
        config.allowed_worker_image_hashes,
        (),
        config.allowed_model_hashes,
        (),
        node.registry if node is not None else None,
    )
    policy = make_policy(config.worker_policy, collateral=collateral, replay=replay)
    admission = WorkerAdmission(policy, allowlist, config.max_statement_age_s)
    return E2EWorkers(admission, clock), from_root


def cocoon_proxies(
    config: ClientConfig,
    node: NodeChain | PublicNodeChain | None,
    identity: NodeIdentity,
    clock: Clock,
    *,
    collateral: CollateralKeeper | None = None,
    replay: ReplayMode | None = None,
) -> CocoonProxies | None:
    """The COCOON-protocol proxies of ``cocoon_proxies`` (None when it lists none). With a chain the
    owner is the node wallet, which also does long auth (`ChainLongAuth`) with the client contracts of
    the root's network (ours, or the public one's); without one, the configured owner address and
    short auth only."""
    if not config.cocoon_proxies:
        return None
    secret = config.cocoon_secret.encode()
    owner = node.wallet.address.friendly(bounceable=False) if node is not None else config.owner_address
    long_auth = None
    price = None
    if node is not None:
        if isinstance(node, PublicNodeChain):
            contracts = reference_contracts(node.state, node.root)
        else:
            contracts = our_contracts(node.registry.chain_params)
        price = contracts.price_per_token
        long_auth = ChainLongAuth(
            node.chain, node.wallet, contracts, secret=secret, top_up_nano=config.top_up_nano
        )
    policy = None
    if config.cocoon_proxy_policy != "any":  # 'any' attests nothing: the published SDKs' behaviour
        policy = proxy_policy(
            config.cocoon_proxy_policy,
            config.allowed_proxy_image_hashes,
            collateral=collateral,
            replay=replay,
        )
    account = CocoonAccount(owner, secret, config.cocoon_test)
    return CocoonProxies(
        config.cocoon_proxies,
        identity,
        account,
        policy=policy,
        long_auth=long_auth,
        upkeep=long_auth if config.auto_top_up else None,
        price_per_token=price,
        clock=clock,
    )


@asynccontextmanager
async def build_client(
    config: ClientConfig, deps: NodeDeps = REAL_DEPS
) -> AsyncIterator[RunningNode[ProxyPool]]:
    """A client daemon built from ``config``, its API listening; everything it opened closes when the
    ``async with`` ends."""
    deps, replay = apply_demo(config.quote_provider, deps, present_quote=False)
    access = access_control(config, deps.clock)  # refuses to start open beyond loopback, before any I/O
    admin = AdminToken.of_data_dir(config.data_dir)  # what POST /payments/... asks for
    async with AsyncExitStack() as stack:
        opened = await open_client_chain(config, stack, deps)
        node = opened if isinstance(opened, NodeChain) else None  # a root of ours
        if isinstance(opened, PublicNodeChain):  # the root lists COCOON proxies, not ours
            config = on_public_root(config, opened)
        config = with_root_proxies(config, "client", node)  # on a chain, the root lists the proxies
        collateral = node_collateral(config.pccs_url, config.collateral_files)
        attested = proxy_policy(
            config.proxy_policy, config.allowed_proxy_image_hashes, collateral=collateral, replay=replay
        )
        policy = StatementPolicy(attested, StatementRequirements(max_age_s=config.max_statement_age_s))
        payments = client_payments(config, node) if node is not None else None
        identity = node_identity(config, deps)
        workers, root_allowlist = e2e_workers(config, node, deps.clock, collateral=collateral, replay=replay)
        pool = ProxyPool(
            config.proxies,
            identity,
            policy,
            payments,
            clock=deps.clock,
            e2e=config.e2e,
            workers=workers,
            cocoon=cocoon_proxies(config, opened, identity, deps.clock, collateral=collateral, replay=replay),
        )
        receipts = ReceiptBook(
            max_statement_age_s=config.max_statement_age_s, directory=config.receipts_dir, clock=deps.clock
        )
        limits = Limits(
            max_body_bytes=config.max_body_bytes,
            max_form_bytes=config.max_form_bytes,
            default_max_tokens=config.default_max_tokens,
        )
        app = make_client_app(pool, limits, receipts=receipts, clock=deps.clock, access=access)
        # The payment routes: on the separate admin server when there is one, else beside the API.
        admin_app = None
        admin_port = admin_listen_port(config)
        if admin_port >= 0:
            admin_app = make_client_admin_app(app[SERVING_KEY], payments, admin)
        elif payments is not None:
            add_payment_routes(app, payments, admin)
        running = RunningNode(pool, 0, [pool.run_forever])
        if node is not None:
            follower = root_follower(config, "client", pool.links, attested, node)
            if root_allowlist is not None:
                follower = all_of(follower, root_allowlist.update)
            # A rise of the root's params_version moves the client to new client contracts.
            params = ParamsFollower(node.registry, pool.move_params)
            follower = all_of(follower, params.on_change)
            interval = config.root_poll_interval_s
            running.jobs.append(lambda: follow_root(node, follower, interval_s=interval))
            running.jobs.append(params.run)
        lane = lane_of(app)
        running.http_port = await serve_node_http(
            app,
            config.api_listen_host,
            config.http_port,
            stack,
            cancel_on_disconnect=True,
            site=lambda runner, host, port: FastLaneSite(runner, lane, host, port),
        )
        if admin_app is not None:
            running.admin_port = await serve_node_http(admin_app, config.admin_host, admin_port, stack)
        yield running

"""Start-up of a proxy's settlement: :func:`open_settlement` on the chain the node opened at start.

The node bootstrap (chain adapter, root registry, funded node wallet) is every node's
(:func:`cocoon.node.chain.open_node_chain`); this module adds what only a proxy needs: its signing
key, the settlement built from its config, started and waited on until ready.
"""

from __future__ import annotations

import logging

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.node.chain import NodeChain
from cocoon.node.keys import node_seed
from cocoon.payments.thresholds import Thresholds
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.settlement.facade import ProxySettlement, SettlementConfig
from cocoon.roles import ProxyConfig
from cocoon.ton.address import Address

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
"""How long the start note may take to appear on chain before start-up fails."""


async def open_settlement(
    config: ProxyConfig, ledger: Ledger, node: NodeChain, *, clock: Clock = SYSTEM_CLOCK
) -> ProxySettlement:
    """The settlement of this proxy on ``node``'s chain (:func:`cocoon.node.chain.open_node_chain`),
    signing with the node key; started (contract deployed and staked, start note sent) and ready.

    Raises :class:`~cocoon.errors.ConfigError` without ``data_dir`` (the node key fixes the proxy
    contract), :class:`~cocoon.errors.StateRollbackError` if the chain shows this database is not the
    latest.
    """
    secret_key = node_seed(config.data_dir)
    owner = Address.parse(config.owner_address) if config.owner_address else node.wallet.address
    settlement = ProxySettlement(
        node.chain,
        node.wallet,
        ledger,
        secret_key,
        owner,
        node.root,
        node.registry.chain_params,
        settlement_config(config),
        clock=clock,
    )
    await settlement.start()
    await settlement.wait_ready(timeout_s=READY_TIMEOUT_S)
    log.info("settlement ready: proxy contract %s, wallet %s", settlement.contract, node.wallet.address)
    return settlement


def settlement_config(config: ProxyConfig) -> SettlementConfig:
    """The settlement's intervals and thresholds from the proxy's config."""
    return SettlementConfig(
        flush_interval_s=config.flush_interval_s,
        note_interval_s=config.commit_interval_s,
        settle_interval_s=config.settle_interval_s,
        chain_poll_s=config.chain_poll_interval_s,
        thresholds=Thresholds(
            charge_nano=config.charge_threshold_nano,
            payout_nano=config.payout_threshold_nano,
            withdraw_nano=config.withdraw_threshold_nano,
        ),
    )

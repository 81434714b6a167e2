"""Start-up of a proxy's settlement: :func:`open_settlement` on the chain the node opened at start.

The node bootstrap (chain adapter, root registry, funded node wallet) is every node's
(:func:`cocoon.node.chain.open_node_chain`); this module adds what only a proxy needs: its signing
key, the settlement built from its config (:func:`make_settlement`, also for the contract of new
params), started and waited on until ready, and the closes of contracts left by a params change that a
restart carries on (:func:`resume_closes`).
"""

from __future__ import annotations

import dataclasses
import logging

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.node.chain import NodeChain
from cocoon.node.keys import node_seed
from cocoon.payments.thresholds import Thresholds
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.proxy.settlement.facade import ProxySettlement, SettlementConfig
from cocoon.roles import ProxyConfig
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus
from cocoon.ton.data import ProxyData, address_of, proxy_state_init
from cocoon.ton.params import Params
from cocoon.ton.signed import public_key_of

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
    params = node.registry.chain_params
    contract = proxy_contract_of(config, node, params)
    deployed = (await node.chain.get_account(contract)).status is AccountStatus.ACTIVE
    CommitStore(ledger, contract.raw).claim_legacy(deployed)
    settlement = make_settlement(config, ledger, node, params, clock=clock)
    await settlement.start()
    await settlement.wait_ready(timeout_s=READY_TIMEOUT_S)
    log.info("settlement ready: proxy contract %s, wallet %s", settlement.contract, node.wallet.address)
    return settlement


def _owner(config: ProxyConfig, node: NodeChain) -> Address:
    return Address.parse(config.owner_address) if config.owner_address else node.wallet.address


def proxy_contract_of(config: ProxyConfig, node: NodeChain, params: Params) -> Address:
    """The address of this proxy's contract under ``params`` (it follows from key, owner, root, params)."""
    key = int.from_bytes(public_key_of(node_seed(config.data_dir)), "big")
    return address_of(proxy_state_init(_owner(config, node), key, node.root, params))


def make_settlement(
    config: ProxyConfig, ledger: Ledger, node: NodeChain, params: Params, *, clock: Clock = SYSTEM_CLOCK
) -> ProxySettlement:
    """The settlement of this proxy's contract under ``params`` (not started)."""
    return ProxySettlement(
        node.chain,
        node.wallet,
        ledger,
        node_seed(config.data_dir),
        _owner(config, node),
        node.root,
        params,
        settlement_config(config),
        clock=clock,
    )


async def resume_closes(
    config: ProxyConfig,
    ledger: Ledger,
    node: NodeChain,
    current: ProxySettlement,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> list[ProxySettlement]:
    """The settlements of the proxy's earlier contracts that are not closed yet, started and ready, to be
    closed through (:class:`cocoon.proxy.redeploy.Redeployer`): those whose close a params change (or
    the operator) asked, and those under params older than ``current``'s (the root's params changed
    while this proxy was stopped: their close is asked now).

    Each one's params are read from the contract itself (its data keeps the worker and client codes,
    its code is the proxy code), checked by recomputing its address."""
    resumed = []
    asked = set(CommitStore.closing_contracts(ledger))
    for raw in CommitStore.unclosed_contracts(ledger):
        if raw == current.scope:
            continue  # the current contract's own close is the current settlement's
        address = Address.parse(raw)
        state = await node.chain.get_account(address)
        if state.status is not AccountStatus.ACTIVE or state.data is None or state.code is None:
            if raw in asked:
                log.error("the proxy contract %s, left to close, is not on chain: nothing to close", raw)
            continue
        data = ProxyData.from_cell(state.data)
        store = CommitStore(ledger, raw)
        if data.state == 2:
            store.closed()
            continue
        params = dataclasses.replace(data.params, proxy_code=state.code)
        if proxy_contract_of(config, node, params) != address:
            log.error(
                "the proxy contract %s in this proxy's database is not this proxy's under its own params "
                "(another key or owner); close it with its owner's wallet (`cocoon proxy close --owner-key`)",
                raw,
            )
            continue
        if raw not in asked:
            if params.params_version >= current.params.params_version:
                continue  # not under older params (say the owner changed): the operator decides
            log.warning(
                "the proxy contract %s is under params version %d, older than the root's %d (the root's "
                "params changed while this proxy was stopped): closing it",
                raw,
                params.params_version,
                current.params.params_version,
            )
            store.request_close()
        log.warning(
            "carrying on the close of the proxy contract %s (params version %d)", raw, params.params_version
        )
        settlement = make_settlement(config, ledger, node, params, clock=clock)
        await settlement.start()
        await settlement.wait_ready(timeout_s=READY_TIMEOUT_S)
        resumed.append(settlement)
    return resumed


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

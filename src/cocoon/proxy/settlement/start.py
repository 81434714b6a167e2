"""Start-up of a proxy's settlement from its config: :func:`open_settlement`.

The node bootstrap (node key, chain adapter, wallet key file, funded :class:`~cocoon.wallet.NodeWallet`,
root registry) comes first, in one block; then the settlement of this proxy is built, started (contract
deployed and staked, start note sent) and waited on until ready.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from pathlib import Path

from cocoon.errors import ConfigError
from cocoon.payments.thresholds import Thresholds
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.settlement.facade import ProxySettlement, SettlementConfig
from cocoon.roles import ProxyConfig
from cocoon.ton.address import Address

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
"""How long the start note may take to appear on chain before start-up fails."""


async def open_settlement(config: ProxyConfig, ledger: Ledger, stack: AsyncExitStack) -> ProxySettlement:
    """Chain, node wallet (funded), root params and the settlement of this proxy; started and ready.

    The chain and the wallet close with ``stack``. Raises :class:`~cocoon.errors.ConfigError` without
    ``data_dir`` or ``root_address``, :class:`~cocoon.errors.StateRollbackError` if the chain shows this
    database is not the latest.
    """
    from cocoon.chainsvc.toncenter import ToncenterChain
    from cocoon.registry.reader import read_registry
    from cocoon.wallet import NodeWallet, WalletTimings, load_or_create_key_file

    # --- node bootstrap: node key, chain adapter, wallet key file, NodeWallet, funding, registry ---
    if not config.data_dir:
        raise ConfigError("a proxy settling on chain needs data_dir: its key fixes its proxy contract")
    secret_key = node_secret(config.data_dir)
    if not config.root_address:
        raise ConfigError(
            "root_address is required with chain_url: the root contract holds the network params"
        )
    chain = await stack.enter_async_context(ToncenterChain(config.chain_url))
    wallet = NodeWallet(
        chain, load_or_create_key_file(wallet_key_path(config)), WalletTimings(poll_interval_s=0.1)
    )
    stack.push_async_callback(wallet.close)
    await wallet.ensure_funded()
    snapshot = await read_registry(chain, Address.parse(config.root_address))
    # --- this proxy's settlement ---
    owner = Address.parse(config.owner_address) if config.owner_address else wallet.address
    settlement = ProxySettlement(
        chain,
        wallet,
        ledger,
        secret_key,
        owner,
        snapshot.root,
        snapshot.chain_params,
        settlement_config(config),
    )
    await settlement.start()
    await settlement.wait_ready(timeout_s=READY_TIMEOUT_S)
    log.info("settlement ready: proxy contract %s, wallet %s", settlement.contract, wallet.address)
    return settlement


def wallet_key_path(config: ProxyConfig) -> Path:
    """The node wallet's key file: ``wallet_key``, else ``<data_dir>/wallet.key``."""
    return Path(config.wallet_key or Path(config.data_dir or ".") / "wallet.key").expanduser()


def settlement_config(config: ProxyConfig) -> SettlementConfig:
    """The settlement's intervals and thresholds from the proxy's config."""
    return SettlementConfig(
        flush_interval_s=config.flush_interval_s,
        note_interval_s=config.commit_interval_s,
        settle_interval_s=config.settle_interval_s,
        thresholds=Thresholds(
            charge_nano=config.charge_threshold_nano,
            payout_nano=config.payout_threshold_nano,
            withdraw_nano=config.withdraw_threshold_nano,
        ),
    )


def node_secret(data_dir: str) -> bytes:
    """The proxy's Ed25519 seed: its node key, so the key clients see attested signs its payments."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from cocoon.net.node import load_or_create_key

    key = load_or_create_key(data_dir)
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

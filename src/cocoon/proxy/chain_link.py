"""Glue between the proxy service and its settlement on chain (:mod:`cocoon.proxy.onchain`).

- clients say which client contract pays for them (``RegisterClient``: owner + secret whose sha256 the
  contract holds); the proxy computes the contract address itself from (owner, its proxy contract, its
  key, params), so a client can only spend a contract whose secret it knows;
- it answers :class:`~cocoon.proxy.accounts.ChainCredit` for the client book (credit from the contract
  state, per the spec formula) and counts every recorded request in the channels;
- it pushes :class:`PaymentUpdate` (three counters + the latest signed payment) to connected workers
  and clients whenever their channel moves;
- :func:`open_settlement` builds the settlement on a node's chain (:func:`cocoon.node.chain.open_node_chain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import asdict, dataclass
from typing import Any

from cocoon.errors import CocoonError, RemoteQueryError
from cocoon.net.rpc import RpcConnection
from cocoon.node.chain import NodeChain
from cocoon.node.keys import node_seed
from cocoon.payments.channel import Counters
from cocoon.payments.thresholds import Thresholds
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.proxy.onchain import ProxySettlement, SettlementConfig
from cocoon.proxy.workers import WorkerPool
from cocoon.roles import ProxyConfig
from cocoon.ton.address import Address
from cocoon.wire.control import ClientRegistered, PaymentStatus, RegisterClient
from cocoon.wire.messages import PaymentUpdate

log = logging.getLogger(__name__)

PUSH_INTERVAL_S = 0.5


@dataclass
class _Client:
    owner: str
    conn: RpcConnection | None = None


class ChainLink:
    """Client owners, chain credit and payment updates for one :class:`ProxySettlement`."""

    def __init__(self, settlement: ProxySettlement) -> None:
        self.settlement = settlement
        self._clients: dict[str, _Client] = {}
        self._sent: dict[tuple[str, str], Counters] = {}

    # --- ChainCredit ------------------------------------------------------------------------------

    def owner_of(self, client_id: str) -> str | None:
        client = self._clients.get(client_id)
        return client.owner if client else None

    def available(self, owner: str, reserved: int) -> int:
        return self.settlement.available(owner, reserved)

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: int) -> None:
        self.settlement.on_recorded(client_owner, worker_owner, tokens)

    # --- clients ----------------------------------------------------------------------------------

    @property
    def refusal(self) -> str | None:
        """Why the proxy must not serve now (rolled-back state, or still confirming its start)."""
        if self.settlement.refused:
            return self.settlement.refused
        if not self.settlement.ready:
            return "the proxy is confirming its state on chain; retry in a few seconds"
        return None

    async def register_client(
        self, client_id: str, body: RegisterClient, conn: RpcConnection | None
    ) -> ClientRegistered:
        """Bind ``client_id`` to the client contract of ``body.owner`` once its secret checks out."""
        try:
            owner = Address.parse(body.owner)
        except CocoonError as exc:
            raise RemoteQueryError(f"owner {body.owner!r} is not a TON address: {exc}", "bad_owner") from exc
        contract = self.settlement.client_contract(owner)
        answer = ClientRegistered(self.settlement.contract.raw, contract.raw, deployed=False)
        view = await self.settlement.register_client(owner)
        if view is None:
            return answer  # not deployed yet: the client deploys, tops up and registers again
        if view.secret_hash != int.from_bytes(hashlib.sha256(body.secret).digest(), "big"):
            raise RemoteQueryError(
                f"the secret does not match the secret_hash of client contract {contract.raw}; set it with "
                "owner_client_change_secret_hash (cocoon client topup does) and register again",
                "bad_secret",
            )
        self._clients[client_id] = _Client(owner.raw, conn)
        return ClientRegistered(
            self.settlement.contract.raw,
            contract.raw,
            deployed=True,
            balance_nano=view.balance_nano,
            stake_nano=view.stake_nano,
            tokens_used=view.sc_tokens_used,
        )

    def forget_client(self, client_id: str, conn: RpcConnection) -> None:
        client = self._clients.get(client_id)
        if client is not None and client.conn is conn:
            client.conn = None

    def payment_status(self, client_id: str) -> PaymentStatus | None:
        owner = self.owner_of(client_id)
        if owner is None:
            return None
        c = self.settlement.counters_of(CLIENT_CHANNEL, owner)
        available = self.settlement.available(owner, 0)
        return PaymentStatus(
            tokens_max=c.tokens_max,
            committed_to_db=c.committed_to_db,
            committed_to_chain=c.committed_to_chain,
            signed_payment=self.settlement.signed_payment(CLIENT_CHANNEL, owner),
            balance_nano=available * self.settlement.params.price_per_token,
        )

    # --- pushing updates --------------------------------------------------------------------------

    def update_for(self, kind: str, owner: str) -> PaymentUpdate | None:
        """The update to send for a channel, or None when nothing moved since the last one sent."""
        counters = self.settlement.counters_of(kind, owner)
        if self._sent.get((kind, owner)) == counters:
            return None
        self._sent[(kind, owner)] = counters
        return PaymentUpdate(
            counterpart=owner,
            tokens_max=counters.tokens_max,
            committed_to_db=counters.committed_to_db,
            committed_to_chain=counters.committed_to_chain,
            signed_payment=self.settlement.signed_payment(kind, owner),
        )

    async def push(self, registry: WorkerPool) -> None:
        """Send every moved channel's update to its connected counterpart(s)."""
        links = [link for link in registry if link.state is not None and link.state.owner]
        for owner in {link.state.owner for link in links if link.state is not None}:
            update = self.update_for(WORKER_CHANNEL, owner)
            if update is None:
                continue
            for link in links:
                if link.state is not None and link.state.owner == owner:
                    with contextlib.suppress(CocoonError):
                        await link.conn.send_payment_update(update)
        for client in list(self._clients.values()):
            if client.conn is None:
                continue
            update = self.update_for(CLIENT_CHANNEL, client.owner)
            if update is not None:
                with contextlib.suppress(CocoonError):
                    await client.conn.send_payment_update(update)

    async def push_forever(self, registry: WorkerPool) -> None:
        while True:
            await self.push(registry)
            await asyncio.sleep(PUSH_INTERVAL_S)

    async def run(self, registry: WorkerPool) -> None:
        """The settlement loop and the payment-update pushes, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.settlement.run())
            tasks.create_task(self.push_forever(registry))

    def stats(self) -> dict[str, Any]:
        s = self.settlement
        return {
            "proxy_contract": s.contract.raw,
            "wallet": s.sender.address.raw,
            "ready": s.ready,
            "refused": s.refused,
            "last_seqno": s.pipeline.last_seqno,
            "committed_seqno": s.pipeline.committed_seqno,
            "counters": vars(s.counters),
            "channels": {f"{kind}:{owner}": asdict(ch.counters) for (kind, owner), ch in s.channels.items()},
            "clients": {cid: c.owner for cid, c in self._clients.items()},
        }


def settlement_config(config: ProxyConfig) -> SettlementConfig:
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


async def open_chain_link(config: ProxyConfig, ledger: Ledger, node: NodeChain) -> ChainLink:
    """:func:`open_settlement` signing with the node key, wrapped for the service."""
    return ChainLink(await open_settlement(config, ledger, node_seed(config.data_dir), node))


async def open_settlement(
    config: ProxyConfig, ledger: Ledger, secret_key: bytes, node: NodeChain
) -> ProxySettlement:
    """The settlement of this proxy on ``node``'s chain; started and ready.

    Raises :class:`~cocoon.errors.StateRollbackError` if the chain shows this database is not the latest.
    """
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
    )
    await settlement.start()
    await settlement.wait_ready(timeout_s=60)
    log.info("settlement ready: proxy contract %s, wallet %s", settlement.contract, node.wallet.address)
    return settlement

"""Clients paying on chain: which client contract pays for which client, its credit and its status.

A client says which contract pays for it (:class:`~cocoon.wire.control.RegisterClient`: its owner
address and the secret whose sha256 the contract holds). The proxy computes the contract's address
itself from (owner, its proxy contract, its key, params) and reads the contract from the chain
(:mod:`.counterparts`), so a client can only spend a contract whose secret it knows. A bound client's
credit is what that contract still covers (:meth:`ClientBindings.available`, the spec formula), its
status the channel's counters and latest signed charge, and its connection receives the channel's
payment updates (:mod:`.updates`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cocoon.errors import CocoonError, RemoteQueryError
from cocoon.payments.credit import ClientContractView, available_tokens
from cocoon.payments.params import NetworkParams
from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.proxy.settlement.payment_signer import PaymentSigner
from cocoon.proxy.settlement.updates import ClientPeer, PaymentPeer
from cocoon.ton.address import Address
from cocoon.wire.control import ClientRegistered, PaymentStatus, RegisterClient


@dataclass
class _Client:
    owner: str
    conn: PaymentPeer | None = None


class ClientBindings:
    """Client ids bound to the owner of their client contract, and their live connection."""

    def __init__(
        self,
        contract: Address,
        channels: Channels,
        counterparts: Counterparts,
        signer: PaymentSigner,
        params: NetworkParams,
    ) -> None:
        self.contract = contract  # the proxy contract
        self.channels, self.counterparts, self.signer, self.params = channels, counterparts, signer, params
        self._clients: dict[str, _Client] = {}

    def owner_of(self, client_id: str) -> str | None:
        """The owner of the client contract paying for ``client_id`` (None: not bound)."""
        client = self._clients.get(client_id)
        return client.owner if client else None

    async def register(
        self, client_id: str, body: RegisterClient, conn: PaymentPeer | None
    ) -> ClientRegistered:
        """Bind ``client_id`` to the client contract of ``body.owner`` once its secret checks out."""
        try:
            owner = Address.parse(body.owner)
        except CocoonError as exc:
            raise RemoteQueryError(f"owner {body.owner!r} is not a TON address: {exc}", "bad_owner") from exc
        contract = self.counterparts.client_contract(owner)
        answer = ClientRegistered(self.contract.raw, contract.raw, deployed=False)
        view = await self.counterparts.register_client(owner)
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
            self.contract.raw,
            contract.raw,
            deployed=True,
            balance_nano=view.balance_nano,
            stake_nano=view.stake_nano,
            tokens_used=view.sc_tokens_used,
        )

    async def contract_view(self, owner: Address) -> tuple[Address, ClientContractView | None]:
        """``owner``'s client contract with this proxy and its state read from the chain now (None: not
        deployed). A COCOON client's handshake answers short or long authorization from it."""
        return self.counterparts.client_contract(owner), await self.counterparts.register_client(owner)

    def bind(self, client_id: str, owner: Address, conn: PaymentPeer | None) -> None:
        """Bind ``client_id`` to ``owner``'s client contract once the client proved it is the owner's
        (a COCOON client's secret, or its register note with the nonce this proxy gave it)."""
        self._clients[client_id] = _Client(owner.raw, conn)

    def forget(self, client_id: str, conn: PaymentPeer) -> None:
        """``conn`` closed: stop pushing to it (the binding stays for the client's next connection)."""
        client = self._clients.get(client_id)
        if client is not None and client.conn is conn:
            client.conn = None

    def available(self, owner: str, reserved: int) -> int:
        """Adjusted tokens ``owner``'s contract still covers, net of ``reserved`` (spec formula)."""
        view = self.counterparts.clients.get(owner)
        if view is None:
            return -reserved
        used = self.channels.counters(CLIENT_CHANNEL, owner).tokens_max
        return available_tokens(view, used, reserved, self.params)

    def payment_status(self, client_id: str) -> PaymentStatus | None:
        """The bound client's channel counters, latest signed charge and spendable balance."""
        owner = self.owner_of(client_id)
        if owner is None:
            return None
        c = self.channels.counters(CLIENT_CHANNEL, owner)
        return PaymentStatus(
            tokens_max=c.tokens_max,
            committed_to_db=c.committed_to_db,
            committed_to_chain=c.committed_to_chain,
            signed_payment=self.signer.signed_payment(CLIENT_CHANNEL, owner),
            balance_nano=self.available(owner, 0) * self.params.price_per_token,
        )

    def connected(self) -> list[ClientPeer]:
        """Every bound client with a live connection."""
        return [(cid, c.owner, c.conn) for cid, c in self._clients.items() if c.conn is not None]

    def owners(self) -> dict[str, str]:
        """Client id -> owner of its client contract (for the status page)."""
        return {cid: c.owner for cid, c in self._clients.items()}

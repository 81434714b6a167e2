"""Client binding: which client contract pays for which client connection.

A client says which contract pays for it (:class:`~cocoon.wire.control.RegisterClient`: its owner
address and the secret whose sha256 the contract holds). The proxy computes the contract's address
itself from (owner, its proxy contract, its key, params) and reads the contract from the chain
(:mod:`.counterparts`), so a client can only spend a contract whose secret it knows. A bound client
is charged against that contract (the façade's ``available``) and its connection receives the
channel's payment updates (:mod:`.updates`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cocoon.errors import CocoonError, RemoteQueryError
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.proxy.settlement.updates import ClientPeer, PaymentPeer
from cocoon.ton.address import Address
from cocoon.wire.control import ClientRegistered, RegisterClient


@dataclass
class _Client:
    owner: str
    conn: PaymentPeer | None = None


class ClientBindings:
    """Client ids bound to the owner of their client contract, and their live connection."""

    def __init__(self, contract: Address, counterparts: Counterparts) -> None:
        self.contract = contract  # the proxy contract
        self.counterparts = counterparts
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

    def forget(self, client_id: str, conn: PaymentPeer) -> None:
        """``conn`` closed: stop pushing to it (the binding stays for the client's next connection)."""
        client = self._clients.get(client_id)
        if client is not None and client.conn is conn:
            client.conn = None

    def connected(self) -> list[ClientPeer]:
        """Every bound client with a live connection."""
        return [(cid, c.owner, c.conn) for cid, c in self._clients.items() if c.conn is not None]

    def owners(self) -> dict[str, str]:
        """Client id -> owner of its client contract (for the status page)."""
        return {cid: c.owner for cid, c in self._clients.items()}

"""Proxy-signed requests (spec/contracts.md, "Signed messages").

::

    payload cell = op:uint32 query_id:uint64 [new_tokens:uint64] expected_my_address:MsgAddressInt
    outer body   = op:uint32 query_id:uint64 send_excesses_to:MsgAddress signature:bits512 ^payload
    signature    = Ed25519(proxy_secret_key, representation_hash(payload cell))

``send_excesses_to`` is outside the signature: whoever submits the message chooses it. The proxy's
secret key is passed in as a 32-byte Ed25519 seed; nothing here reads keys from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, begin_cell, cell_hash, load_address, store_address
from cocoon.ton.codec import U64, Addr, Bits512, Body, Ref, expect_end
from cocoon.ton.ops import Op

TOKEN_OPS = frozenset(
    {
        Op.EXT_CLIENT_CHARGE_SIGNED,
        Op.EXT_CLIENT_GRANT_REFUND_SIGNED,
        Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED,
        Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED,
    }
)
"""Signed ops whose payload carries ``new_tokens``; the proxy close ops do not."""


@dataclass(frozen=True)
class SignedPayload:
    """The signed inner cell: what the proxy's key vouches for."""

    op: int
    query_id: int
    new_tokens: int | None
    expected_address: Address

    def to_cell(self) -> Cell:
        if (self.new_tokens is not None) != (self.op in TOKEN_OPS):
            raise ValueError(f"op {self.op:#010x}: new_tokens must be given exactly for token ops")
        b = begin_cell().store_uint(self.op, 32).store_uint(self.query_id, 64)
        if self.new_tokens is not None:
            b.store_uint(self.new_tokens, 64)
        return store_address(b, self.expected_address).end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> SignedPayload:
        cs = cell.begin_parse()
        try:
            op, query_id = cs.load_uint(32), cs.load_uint(64)
            tokens = cs.load_uint(64) if op in TOKEN_OPS else None
        except Exception as exc:
            raise ChainDataError(f"signed payload: cannot decode ({exc})") from exc
        address = load_address(cs)
        expect_end(cs, "signed payload")
        if address is None:
            raise ChainDataError("signed payload: expected_my_address is addr_none")
        return cls(op, query_id, tokens, address)


@dataclass(frozen=True)
class SignedRequest(Body):
    """Outer body of a signed request; one subclass per op so parsing dispatches by op."""

    query_id: U64
    send_excesses_to: Addr
    signature: Bits512
    payload: Ref

    def signed_payload(self) -> SignedPayload:
        """The parsed payload (not yet checked against the outer op or the signature)."""
        return SignedPayload.from_cell(self.payload)

    def verify(self, public_key: bytes) -> bool:
        """True if the signature is valid for ``public_key`` and the payload matches the outer op/query_id."""
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(self.signature, cell_hash(self.payload))
        except InvalidSignature:
            return False
        inner = self.signed_payload()
        return inner.op == self.OP and inner.query_id == self.query_id


class ClientChargeSigned(SignedRequest):
    OP: ClassVar[int] = Op.EXT_CLIENT_CHARGE_SIGNED


class ClientGrantRefundSigned(SignedRequest):
    OP: ClassVar[int] = Op.EXT_CLIENT_GRANT_REFUND_SIGNED


class WorkerPayoutSigned(SignedRequest):
    OP: ClassVar[int] = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED


class WorkerLastPayoutSigned(SignedRequest):
    OP: ClassVar[int] = Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED


class ProxyCloseRequestSigned(SignedRequest):
    OP: ClassVar[int] = Op.EXT_PROXY_CLOSE_REQUEST_SIGNED


class ProxyCloseCompleteSigned(SignedRequest):
    OP: ClassVar[int] = Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED


SIGNED_REQUESTS: dict[int, type[SignedRequest]] = {
    cls.OP: cls
    for cls in (
        ClientChargeSigned,
        ClientGrantRefundSigned,
        WorkerPayoutSigned,
        WorkerLastPayoutSigned,
        ProxyCloseRequestSigned,
        ProxyCloseCompleteSigned,
    )
}


def public_key_of(secret_key: bytes) -> bytes:
    """The 32-byte Ed25519 public key of a 32-byte seed."""
    raw: bytes = Ed25519PrivateKey.from_private_bytes(secret_key).public_key().public_bytes_raw()
    return raw


def sign_cell(secret_key: bytes, cell: Cell) -> bytes:
    """Ed25519 signature over a cell's representation hash (64 bytes)."""
    sig: bytes = Ed25519PrivateKey.from_private_bytes(secret_key).sign(cell_hash(cell))
    return sig


def sign_request(
    secret_key: bytes,
    op: int,
    *,
    query_id: int,
    target: Address,
    new_tokens: int | None = None,
    send_excesses_to: Address | None = None,
) -> SignedRequest:
    """Build and sign a request for contract ``target`` (cumulative ``new_tokens`` for token ops)."""
    cls = SIGNED_REQUESTS.get(op)
    if cls is None:
        raise ValueError(f"op {op:#010x} is not a signed request op")
    payload = SignedPayload(op, query_id, new_tokens, target).to_cell()
    return cls(query_id, send_excesses_to, sign_cell(secret_key, payload), payload)

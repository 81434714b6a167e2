"""Bodies of the messages a client owner sends to its reference client contract.

Layouts are the reference contracts' (``messages.tlb`` of the public contracts; the runner builds
them in ``ClientContract.cpp``). ``query_id`` is the caller's (the reference draws a random one and
waits for a transaction from its contract carrying it back); ``excess_to`` is where the contract
returns unspent value, normally the owner's wallet. Values to attach are in
:mod:`cocoon.ton.reference.opcodes`.

``owner_client_increase_stake`` carries ``new_stake`` as the contract expects; the reference runner's
builder (which nothing calls) omits it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell
from cocoon.ton.codec import U64, Addr, Bits256, Body, Coins
from cocoon.ton.reference.opcodes import RefOp


@dataclass(frozen=True)
class RefOwnerClientRegister(Body):
    """Long auth: prove ownership of the client contract by echoing the proxy's ``nonce`` on chain."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_REGISTER
    query_id: U64
    nonce: U64
    excess_to: Addr


@dataclass(frozen=True)
class RefExtClientTopUp(Body):
    """Add ``amount`` nanoTON to the balance (anyone may send it; the value must cover it + fees)."""

    OP: ClassVar[int] = RefOp.EXT_CLIENT_TOP_UP
    query_id: U64
    amount: Coins
    excess_to: Addr


@dataclass(frozen=True)
class RefOwnerClientTopUpReopen(Body):
    """Top up and reopen a closing contract (reference runner only; same layout as a top-up)."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_TOP_UP_REOPEN
    query_id: U64
    amount: Coins
    excess_to: Addr


@dataclass(frozen=True)
class RefOwnerClientChangeSecretHash(Body):
    """Set the SHA-256 of the short-auth secret."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_CHANGE_SECRET_HASH
    query_id: U64
    secret_hash: Bits256
    excess_to: Addr


@dataclass(frozen=True)
class RefOwnerClientChangeSecretHashAndTopUp(Body):
    """Both at once: top up by ``amount`` and set the secret hash."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP
    query_id: U64
    amount: Coins
    secret_hash: Bits256
    excess_to: Addr


@dataclass(frozen=True)
class RefOwnerClientIncreaseStake(Body):
    """Raise the stake (the most uncharged usage the proxy extends) to ``new_stake``."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_INCREASE_STAKE
    query_id: U64
    new_stake: Coins
    excess_to: Addr


@dataclass(frozen=True)
class RefOwnerClientWithdraw(Body):
    """Withdraw what is above the stake (or everything once closed and unlocked)."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_WITHDRAW
    query_id: U64
    excess_to: Addr


@dataclass(frozen=True)
class RefOwnerClientRequestRefund(Body):
    """Start closing: ask the proxy for a refund; forced after ``client_delay_before_close``."""

    OP: ClassVar[int] = RefOp.OWNER_CLIENT_REQUEST_REFUND
    query_id: U64
    excess_to: Addr


RefClientMessage = (
    RefOwnerClientRegister
    | RefExtClientTopUp
    | RefOwnerClientTopUpReopen
    | RefOwnerClientChangeSecretHash
    | RefOwnerClientChangeSecretHashAndTopUp
    | RefOwnerClientIncreaseStake
    | RefOwnerClientWithdraw
    | RefOwnerClientRequestRefund
)

CLIENT_MESSAGE_TYPES: dict[int, type[RefClientMessage]] = {
    cls.OP: cls
    for cls in (
        RefOwnerClientRegister,
        RefExtClientTopUp,
        RefOwnerClientTopUpReopen,
        RefOwnerClientChangeSecretHash,
        RefOwnerClientChangeSecretHashAndTopUp,
        RefOwnerClientIncreaseStake,
        RefOwnerClientWithdraw,
        RefOwnerClientRequestRefund,
    )
}


def parse_client_message(body: Cell) -> RefClientMessage:
    """Parse an owner-to-client-contract body by its op (strictly; errors name the message)."""
    cs = body.begin_parse()
    if cs.remaining_bits < 32:
        raise ChainDataError(f"client contract message: {cs.remaining_bits} bits, no 32-bit op")
    op = cs.preload_uint(32)
    cls = CLIENT_MESSAGE_TYPES.get(op)
    if cls is None:
        raise ChainDataError(f"client contract message: op {op:#010x} is not an owner message")
    return cls.from_cell(body)


def secret_hash(secret: str | bytes) -> bytes:
    """SHA-256 of the short-auth secret, as stored in the contract and compared by the proxy."""
    return hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).digest()


def top_up_amount(coins: int, price_per_token: int) -> int:
    """Round a top-up down to whole tokens, as the reference client does before sending it."""
    if coins < 0:
        raise ValueError(f"top-up must be >= 0 nanoTON, got {coins}")
    return coins - coins % price_per_token if price_per_token > 0 else coins

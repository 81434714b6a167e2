"""Bodies the worker and client contracts receive from their owners and from anyone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cocoon.ton.codec import (
    U64,
    U256,
    Addr,
    Body,
    Coins,
)
from cocoon.ton.ops import Op


@dataclass(frozen=True)
class OwnerWorkerRegister(Body):
    OP: ClassVar[int] = Op.OWNER_WORKER_REGISTER
    query_id: U64
    excess_to: Addr


@dataclass(frozen=True)
class ExtClientTopUp(Body):
    OP: ClassVar[int] = Op.EXT_CLIENT_TOP_UP
    query_id: U64
    amount: Coins
    excess_to: Addr


@dataclass(frozen=True)
class OwnerClientChangeSecretHashAndTopUp(Body):
    OP: ClassVar[int] = Op.OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP
    query_id: U64
    amount: Coins
    secret_hash: U256
    excess_to: Addr


@dataclass(frozen=True)
class OwnerClientRegister(Body):
    OP: ClassVar[int] = Op.OWNER_CLIENT_REGISTER
    query_id: U64
    nonce: U64
    excess_to: Addr


@dataclass(frozen=True)
class OwnerClientChangeSecretHash(Body):
    OP: ClassVar[int] = Op.OWNER_CLIENT_CHANGE_SECRET_HASH
    query_id: U64
    secret_hash: U256
    excess_to: Addr


@dataclass(frozen=True)
class OwnerClientIncreaseStake(Body):
    OP: ClassVar[int] = Op.OWNER_CLIENT_INCREASE_STAKE
    query_id: U64
    new_stake: Coins
    excess_to: Addr


@dataclass(frozen=True)
class OwnerClientWithdraw(Body):
    OP: ClassVar[int] = Op.OWNER_CLIENT_WITHDRAW
    query_id: U64
    excess_to: Addr


@dataclass(frozen=True)
class OwnerClientRequestRefund(Body):
    OP: ClassVar[int] = Op.OWNER_CLIENT_REQUEST_REFUND
    query_id: U64
    excess_to: Addr

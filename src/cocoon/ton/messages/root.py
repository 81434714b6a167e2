"""Bodies of the root contract's owner-only operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cocoon.ton.codec import (
    U32,
    U64,
    U256,
    Addr,
    Body,
    Coins,
    Ref,
)
from cocoon.ton.data import ProxyDescText
from cocoon.ton.ops import Op


@dataclass(frozen=True)
class _HashOp(Body):
    query_id: U64
    hash: U256


class AddWorkerType(_HashOp):
    OP: ClassVar[int] = Op.ADD_WORKER_TYPE


class DelWorkerType(_HashOp):
    OP: ClassVar[int] = Op.DEL_WORKER_TYPE


class AddModelType(_HashOp):
    OP: ClassVar[int] = Op.ADD_MODEL_TYPE


class DelModelType(_HashOp):
    OP: ClassVar[int] = Op.DEL_MODEL_TYPE


class AddProxyType(_HashOp):
    OP: ClassVar[int] = Op.ADD_PROXY_TYPE


class DelProxyType(_HashOp):
    OP: ClassVar[int] = Op.DEL_PROXY_TYPE


@dataclass(frozen=True)
class RegisterProxy(Body):
    OP: ClassVar[int] = Op.REGISTER_PROXY
    query_id: U64
    desc: ProxyDescText


@dataclass(frozen=True)
class UnregisterProxy(Body):
    OP: ClassVar[int] = Op.UNREGISTER_PROXY
    query_id: U64
    seqno: U32


@dataclass(frozen=True)
class UpdateProxy(Body):
    OP: ClassVar[int] = Op.UPDATE_PROXY
    query_id: U64
    seqno: U32
    desc: ProxyDescText


@dataclass(frozen=True)
class ChangeFees(Body):
    OP: ClassVar[int] = Op.CHANGE_FEES
    query_id: U64
    price_per_token: Coins
    worker_fee_per_token: Coins


@dataclass(frozen=True)
class ChangeParams(Body):
    OP: ClassVar[int] = Op.CHANGE_PARAMS
    query_id: U64
    price_per_token: Coins
    worker_fee_per_token: Coins
    proxy_delay_before_close: U32
    client_delay_before_close: U32
    min_proxy_stake: Coins
    min_client_stake: Coins


@dataclass(frozen=True)
class UpgradeContracts(Body):
    OP: ClassVar[int] = Op.UPGRADE_CONTRACTS
    query_id: U64
    proxy_code: Ref
    worker_code: Ref
    client_code: Ref


@dataclass(frozen=True)
class Upgrade(Body):
    OP: ClassVar[int] = Op.UPGRADE
    query_id: U64
    code: Ref


@dataclass(frozen=True)
class Reset(Body):
    OP: ClassVar[int] = Op.RESET
    query_id: U64


@dataclass(frozen=True)
class ChangeOwner(Body):
    OP: ClassVar[int] = Op.CHANGE_OWNER
    query_id: U64
    new_owner: Addr

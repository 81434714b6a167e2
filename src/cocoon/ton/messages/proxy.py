"""Bodies the proxy contract receives, including the forwarded client/worker requests and payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from cocoon.errors import ChainDataError
from cocoon.ton.codec import (
    U2,
    U64,
    U256,
    Addr,
    Body,
    Coins,
    MaybeRef,
    RefTo,
    Struct,
)
from cocoon.ton.ops import Op


@dataclass(frozen=True)
class ClientStateSnapshot(Struct):
    """The client state a client contract forwards with every request to its proxy contract."""

    state: U2
    balance: Coins
    stake: Coins
    tokens_used: U64
    secret_hash: U256


@dataclass(frozen=True)
class ClientProxyRequest(Body):
    OP: ClassVar[int] = Op.CLIENT_PROXY_REQUEST
    query_id: U64
    owner: Addr
    client: Annotated[ClientStateSnapshot, RefTo(ClientStateSnapshot)]
    payload: MaybeRef = None


@dataclass(frozen=True)
class ClientTopUpPayload(Body):
    OP: ClassVar[int] = Op.CLIENT_PROXY_TOP_UP
    coins: Coins
    excess_to: Addr


@dataclass(frozen=True)
class ClientRegisterPayload(Body):
    OP: ClassVar[int] = Op.CLIENT_PROXY_REGISTER
    nonce: U64


@dataclass(frozen=True)
class ClientRefundGrantedPayload(Body):
    OP: ClassVar[int] = Op.CLIENT_PROXY_REFUND_GRANTED
    coins: Coins
    excess_to: Addr  # where the proxy sends the change (reference format; spec lists only coins)


@dataclass(frozen=True)
class ClientRefundForcePayload(Body):
    OP: ClassVar[int] = Op.CLIENT_PROXY_REFUND_FORCE
    coins: Coins
    excess_to: Addr  # where the proxy sends the change (reference format; spec lists only coins)


@dataclass(frozen=True)
class WorkerProxyRequest(Body):
    OP: ClassVar[int] = Op.WORKER_PROXY_REQUEST
    query_id: U64
    owner: Addr
    state: U2
    tokens: U64
    payload: MaybeRef = None


@dataclass(frozen=True)
class WorkerPayoutPayload(Body):
    OP: ClassVar[int] = Op.WORKER_PROXY_PAYOUT_REQUEST
    worker_part: Coins
    proxy_part: Coins
    excess_to: Addr


@dataclass(frozen=True)
class ExtProxyPayoutRequest(Body):
    OP: ClassVar[int] = Op.EXT_PROXY_PAYOUT_REQUEST
    query_id: U64
    excess_to: Addr


@dataclass(frozen=True)
class ExtProxyIncreaseStake(Body):
    OP: ClassVar[int] = Op.EXT_PROXY_INCREASE_STAKE
    query_id: U64
    grams: Coins
    excess_to: Addr


@dataclass(frozen=True)
class OwnerProxyClose(Body):
    OP: ClassVar[int] = Op.OWNER_PROXY_CLOSE
    query_id: U64
    excess_to: Addr


def payload_of(body: ClientProxyRequest | WorkerProxyRequest) -> Body | None:
    """Parse the optional payload of a forwarded request into its typed struct."""
    if body.payload is None:
        return None
    op = body.payload.begin_parse().preload_uint(32)
    for cls in _PAYLOADS:
        if op == cls.OP:
            return cls.from_cell(body.payload)
    raise ChainDataError(f"{type(body).__name__}: unknown payload op {op:#010x}")


_PAYLOADS: tuple[type[Body], ...] = (
    ClientTopUpPayload,
    ClientRegisterPayload,
    ClientRefundGrantedPayload,
    ClientRefundForcePayload,
    WorkerPayoutPayload,
)

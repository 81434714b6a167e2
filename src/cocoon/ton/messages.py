"""Message bodies of the COCOON contracts (spec/contracts.md), one frozen struct per op.

Build: ``RegisterProxy(query_id=1, desc="127.0.0.1:11001").to_cell()``.
Parse: ``RegisterProxy.from_cell(cell)`` or, for any inbound body, :func:`cocoon.ton.parse.parse_body`.
Signed requests live in :mod:`cocoon.ton.signed`, wallet messages in :mod:`cocoon.ton.wallet`.

Layout choices where the spec leaves room (mirrored by ``contracts/*.fc``):
- every internal body starts ``op:uint32 query_id:uint64``; forwarded *payloads* (inside
  ``client_proxy_request`` / ``worker_proxy_request``) are ``op:uint32`` + fields, without query_id;
- ``client_proxy_request = op query_id owner:MsgAddress ^ClientStateSnapshot payload:(Maybe ^Cell)``;
- ``worker_proxy_request = op query_id owner:MsgAddress state:uint2 tokens:uint64 payload:(Maybe ^Cell)``;
- the proxy save-state note is ``do_not_process query_id save_state:uint32 seqno:int32 session_hash:bits256``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Self

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell
from cocoon.ton.codec import (
    I32,
    U2,
    U8,
    U32,
    U64,
    U256,
    Addr,
    Bits256,
    Body,
    Coins,
    MaybeRef,
    Ref,
    RefTo,
    Struct,
)
from cocoon.ton.data import ProxyDescText
from cocoon.ton.ops import Op

# ---- common replies and notes -------------------------------------------------------------------


@dataclass(frozen=True)
class Excesses(Body):
    OP: ClassVar[int] = Op.EXCESSES
    query_id: U64


@dataclass(frozen=True)
class Payout(Body):
    OP: ClassVar[int] = Op.PAYOUT
    query_id: U64


@dataclass(frozen=True)
class DoNotProcess(Body):
    """A note whose compute phase is skipped (sent with 1 nanoTON); any content may follow query_id."""

    OP: ClassVar[int] = Op.DO_NOT_PROCESS
    query_id: U64

    @classmethod
    def from_cell(cls, cell: Cell) -> Self:
        """Parse the head only: the note's content after query_id is free-form."""
        return cls.load_from(cell.begin_parse())


@dataclass(frozen=True)
class SaveState(Body):
    """The proxy's commit note: ``do_not_process query_id save_state seqno:int32 session_hash``."""

    OP: ClassVar[int] = Op.DO_NOT_PROCESS
    query_id: U64
    save_op: U32
    seqno: I32
    session_hash: Bits256

    @classmethod
    def make(cls, query_id: int, seqno: int, session_hash: bytes) -> SaveState:
        return cls(query_id, Op.SAVE_STATE, seqno, session_hash)

    def __post_init__(self) -> None:
        if self.save_op != Op.SAVE_STATE:
            raise ChainDataError(f"not a save_state note (inner op {self.save_op:#010x})")


# ---- root (owner only) --------------------------------------------------------------------------


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


# ---- proxy --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ClientRefundForcePayload(Body):
    OP: ClassVar[int] = Op.CLIENT_PROXY_REFUND_FORCE
    coins: Coins


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


# ---- worker -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerWorkerRegister(Body):
    OP: ClassVar[int] = Op.OWNER_WORKER_REGISTER
    query_id: U64
    excess_to: Addr


# ---- client -------------------------------------------------------------------------------------


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


# ---- node wallet (internal control by its owner) ------------------------------------------------


@dataclass(frozen=True)
class OwnerWalletSendMessage(Body):
    OP: ClassVar[int] = Op.OWNER_WALLET_SEND_MESSAGE
    query_id: U64
    mode: U8
    message: Ref


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

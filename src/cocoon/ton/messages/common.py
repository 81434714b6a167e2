"""Replies, notes and node-wallet control bodies shared by every contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell
from cocoon.ton.codec import (
    I32,
    U8,
    U32,
    U64,
    Bits256,
    Body,
    Ref,
)
from cocoon.ton.ops import Op


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


@dataclass(frozen=True)
class OwnerWalletSendMessage(Body):
    OP: ClassVar[int] = Op.OWNER_WALLET_SEND_MESSAGE
    query_id: U64
    mode: U8
    message: Ref

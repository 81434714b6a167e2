"""Typed helpers over pytoniq-core cells: BoC, hashes, addresses, state-init, messages.

pytoniq-core ships no type information, so ``Cell``/``Builder``/``Slice`` are ``Any`` to mypy; the
functions here give the rest of the package typed entry points and map pytoniq's exceptions to
:class:`~cocoon.errors.ChainDataError`.
"""

from __future__ import annotations

from typing import Any

from pytoniq_core.boc.address import Address as _PtAddress
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.slice import Slice
from pytoniq_core.tlb.account import StateInit
from pytoniq_core.tlb.block import CurrencyCollection
from pytoniq_core.tlb.transaction import ExternalMsgInfo, InternalMsgInfo, MessageAny

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address

__all__ = [
    "Builder",
    "Cell",
    "Slice",
    "begin_cell",
    "cell_from_boc",
    "cell_hash",
    "cell_to_boc",
    "contract_address",
    "empty_cell",
    "external_message",
    "from_pt_address",
    "internal_message",
    "load_address",
    "state_init_cell",
    "store_address",
    "text_cell",
    "to_pt_address",
]


def begin_cell() -> Builder:
    """A new, empty cell builder."""
    return Builder()


def cell_from_boc(data: bytes) -> Cell:
    """Deserialize a single-root BoC."""
    try:
        return Cell.one_from_boc(data)
    except Exception as exc:  # pytoniq raises bare Exception subclasses of many kinds
        raise ChainDataError(f"cannot decode BoC ({len(data)} bytes): {exc}") from exc


def cell_to_boc(cell: Cell) -> bytes:
    """Serialize a cell tree to a BoC (no index, no CRC: the form toncenter and liteservers accept)."""
    data: bytes = cell.to_boc()
    return data


def cell_hash(cell: Cell) -> bytes:
    """Representation hash of a cell (32 bytes)."""
    digest: bytes = cell.hash
    return digest


def empty_cell() -> Cell:
    """A cell with no bits and no refs."""
    return Cell.empty()


def to_pt_address(address: Address | None) -> Any:
    """Our address -> pytoniq's (``None`` stays ``None`` = addr_none)."""
    if address is None:
        return None
    return _PtAddress((address.workchain, address.hash_part))


def from_pt_address(value: Any) -> Address | None:
    """pytoniq's address (or ``None``) -> ours; external addresses are refused."""
    if value is None:
        return None
    if not isinstance(value, _PtAddress):
        raise ChainDataError(f"expected an internal address, got {value!r}")
    return Address(value.wc, bytes(value.hash_part))


def store_address(builder: Builder, address: Address | None) -> Builder:
    """Store ``MsgAddress``: addr_std for an address, addr_none for ``None``."""
    return builder.store_address(to_pt_address(address))


def load_address(cs: Slice) -> Address | None:
    """Load ``MsgAddress`` (addr_std or addr_none)."""
    try:
        value = cs.load_address()
    except Exception as exc:
        raise ChainDataError(f"cannot load an address: {exc}") from exc
    return from_pt_address(value)


def text_cell(text: str) -> Cell:
    """A text-comment body: ``op=0`` followed by the UTF-8 text (snake form)."""
    return begin_cell().store_uint(0, 32).store_snake_string(text).end_cell()


def state_init_cell(code: Cell, data: Cell) -> Cell:
    """``StateInit{code, data}`` without split depth, special or libraries."""
    return StateInit(code=code, data=data).serialize()


def contract_address(code: Cell, data: Cell, workchain: int = 0) -> Address:
    """Address of a contract: representation hash of its state-init."""
    return Address(workchain, cell_hash(state_init_cell(code, data)))


def internal_message(
    *,
    src: Address | None,
    dest: Address,
    value: int,
    body: Cell | None = None,
    bounce: bool = True,
    bounced: bool = False,
    state_init: tuple[Cell, Cell] | None = None,
    created_lt: int = 0,
    created_at: int = 0,
) -> Cell:
    """A full internal message cell (``Message Any``); ``src=None`` lets the sending contract fill it."""
    if value < 0:
        raise ValueError(f"message value must be >= 0 nanoTON, got {value}")
    info = InternalMsgInfo(
        ihr_disabled=True,
        bounce=bounce,
        bounced=bounced,
        src=to_pt_address(src),
        dest=to_pt_address(dest),
        value=CurrencyCollection(value),
        ihr_fee=0,
        fwd_fee=0,
        created_lt=created_lt,
        created_at=created_at,
    )
    init = StateInit(code=state_init[0], data=state_init[1]) if state_init else None
    return MessageAny(info=info, init=init, body=body if body is not None else Cell.empty()).serialize()


def external_message(dest: Address, body: Cell, state_init: tuple[Cell, Cell] | None = None) -> Cell:
    """A full inbound external message cell addressed to ``dest``."""
    info = ExternalMsgInfo(src=None, dest=to_pt_address(dest), import_fee=0)
    init = StateInit(code=state_init[0], data=state_init[1]) if state_init else None
    return MessageAny(info=info, init=init, body=body).serialize()
